package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserSignInSignOut is signing in and out in Chromium: the header's
// Sign in asks for the API token and brings the visitor back with the run
// form; the browser keeps a session cookie that scripts cannot read and
// that is not the token; Sign out takes the form away and the cookie with
// it, and putting the old cookie back does not sign in again.
func TestBrowserSignInSignOut(t *testing.T) {
	const token = "browser-token-8d41c0a2f7e6"
	tab := uiBrowser(t)
	artifacts := uiArtifacts(t)
	t.Setenv("SLIPWAY_UI_BROWSER_TOKEN", token)
	s := uiServer(t, "SLIPWAY_UI_BROWSER_TOKEN")
	p := uiProject(t, s, "guarded", uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"}))
	base := s.URL()
	page := fmt.Sprintf("/projects/%d", p.ID)
	runForm := `document.querySelector("#run form") !== null`
	signOut := `document.querySelector("header form.signout button") !== null`
	sessionCookies := func() []*network.Cookie {
		t.Helper()
		res, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		if err != nil {
			t.Fatalf("reading the browser's cookies: %v", err)
		}
		var out []*network.Cookie
		for _, c := range res.Cookies {
			if c.Name == uiSessionCookie {
				out = append(out, c)
			}
		}
		return out
	}

	uiGo(t, tab, base+page)
	if uiEval[bool](t, tab, runForm) || uiEval[bool](t, tab, signOut) {
		t.Fatalf("before signing in the page offers the run form or Sign out")
	}
	if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`header nav a[href^="/ui/login"]`))); err != nil {
		t.Fatalf("pressing Sign in: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(`input[name=token]`), token)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`form[action="/ui/login"] button[type=submit]`))); err != nil {
		t.Fatalf("submitting the token: %v", err)
	}
	if path := uiEval[string](t, tab, "location.pathname"); path != page {
		t.Errorf("signing in led to %s, want back to %s", path, page)
	}
	if !uiEval[bool](t, tab, runForm) || !uiEval[bool](t, tab, signOut) {
		t.Fatalf("signed in, the page has no run form or no Sign out")
	}
	cookies := sessionCookies()
	if len(cookies) != 1 {
		t.Fatalf("%d session cookies in the browser, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Value == "" || strings.Contains(c.Value, token) || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
		t.Errorf("session cookie in the browser: value %q, HttpOnly %v, SameSite %q, Path %q", c.Value, c.HTTPOnly, c.SameSite, c.Path)
	}
	if v := uiEval[string](t, tab, "document.cookie"); v != "" {
		t.Errorf("a script on the page reads cookies: %q", v)
	}
	if html := uiEval[string](t, tab, "document.documentElement.outerHTML"); strings.Contains(html, token) {
		t.Errorf("the page holds the API token")
	}
	uiScreenshot(t, tab, artifacts, "signed-in")

	if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`header form.signout button`))); err != nil {
		t.Fatalf("pressing Sign out: %v", err)
	}
	if path := uiEval[string](t, tab, "location.pathname"); path != "/" {
		t.Errorf("signing out led to %s, want /", path)
	}
	if uiEval[bool](t, tab, signOut) || !uiEval[bool](t, tab, `document.querySelector('header nav a[href^="/ui/login"]') !== null`) {
		t.Errorf("after signing out the header does not offer Sign in")
	}
	if left := sessionCookies(); len(left) != 0 {
		t.Errorf("sign-out left the session cookie in the browser: %v", left[0].Value)
	}

	// Someone kept a copy of the cookie: it is worth nothing now.
	httpOnly := true
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: base + "/",
		Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
		t.Fatalf("putting the old cookie back: %v", err)
	}
	uiGo(t, tab, base+page)
	uiPoll(t, tab, "the project page", `document.readyState === "complete"`, 10*time.Second)
	if uiEval[bool](t, tab, runForm) || uiEval[bool](t, tab, signOut) {
		t.Errorf("the signed-out cookie, put back, signs in again")
	}
	uiScreenshot(t, tab, artifacts, "signed-out")
}
