package server

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestSignInGoesBackOnlyToThisServer: after signing in, the browser goes
// to next= only when it is a path of this server: the spellings that
// browsers read as another host (a tab, a newline, a backslash, two
// slashes) lead to "/".
func TestSignInGoesBackOnlyToThisServer(t *testing.T) {
	const token = "signin-token-0123456789"
	t.Setenv("SLIPWAY_SIGNIN_TOKEN", token)
	s := uiServer(t, "SLIPWAY_SIGNIN_TOKEN")
	for next, want := range map[string]string{
		"/\t/evil.example":     "/",
		"/\n/evil.example":     "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"/\\/evil.example":     "/",
		"https://evil.example": "/",
		"/projects/1?tab=x":    "/projects/1?tab=x",
	} {
		v := &uiVisitor{t: t, base: s.URL()}
		resp, _ := v.do("POST", "/ui/login", url.Values{"token": {token}, "next": {next}})
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("next=%q: %d to %q, want 303 to %q", next, resp.StatusCode, got, want)
		}
	}
}

// TestSignInLimit: ten wrong tokens in a minute from one address, and the
// sign-in answers 429 with Retry-After, even to the right token.
func TestSignInLimit(t *testing.T) {
	const token = "signin-token-0123456789"
	t.Setenv("SLIPWAY_SIGNIN_TOKEN", token)
	s := uiServer(t, "SLIPWAY_SIGNIN_TOKEN")
	v := &uiVisitor{t: t, base: s.URL()}
	for i := 0; i < signInFailures; i++ {
		if resp, _ := v.do("POST", "/ui/login", url.Values{"token": {"guess-" + strconv.Itoa(i)}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	for _, try := range []string{"guess-again", token} {
		resp, _ := v.do("POST", "/ui/login", url.Values{"token": {try}})
		after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || after < 1 || after > 60 {
			t.Errorf("sign-in after %d wrong tokens: %d, Retry-After %q; want 429 and 1 to 60 seconds",
				signInFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
