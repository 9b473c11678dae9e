package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// uiVisitor talks to a running server over HTTP as one browser tab would,
// without following redirects, and keeps every response's headers and body
// so that a test can look for secrets in all of them.
type uiVisitor struct {
	t    *testing.T
	base string
	seen []string
}

func (v *uiVisitor) do(method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.base+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	v.seen = append(v.seen, fmt.Sprintf("%s %s -> %d\n%v\n%s", method, path, resp.StatusCode, resp.Header, b))
	return resp, string(b)
}

// sessionCookie is the response's session cookie, failing the test when
// there is not exactly one.
func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	var found []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == uiSessionCookie {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d session cookies in %v, want 1", len(found), resp.Header["Set-Cookie"])
	}
	return found[0]
}

// TestUISessionSignInActSignOut follows one browser over HTTP: it signs in
// with the API token and gets a cookie that is not the token, runs a
// pipeline with it, signs out, and then that cookie (or a copy someone took)
// authorizes nothing, while another browser's session goes on. The token
// is in no response, no log line and not in the database.
func TestUISessionSignInActSignOut(t *testing.T) {
	const token = "ui-session-token-5f3a9c1e7b42"
	t.Setenv("SLIPWAY_UI_SESSION_TOKEN", token)
	logs := &testenv.Buffer{}
	dataDir := t.TempDir()
	s := startUIServer(t, Config{Listen: "127.0.0.1:0", DataDir: dataDir, Executor: "shell",
		APITokenEnv: "SLIPWAY_UI_SESSION_TOKEN", PollInterval: time.Hour, ScheduleTick: time.Hour}, logs)
	t.Cleanup(func() { closeUIServer(s) })
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	p := uiProject(t, s, "guarded", repo)
	page := fmt.Sprintf("/projects/%d", p.ID)
	runForm := fmt.Sprintf(`action="/ui/projects/%d/pipelines"`, p.ID)
	run := func(cookie *http.Cookie) *http.Response {
		resp, _ := (&uiVisitor{t: t, base: s.URL()}).do("POST", fmt.Sprintf("/ui/projects/%d/pipelines", p.ID), url.Values{"ref": {"main"}}, cookie)
		return resp
	}
	v := &uiVisitor{t: t, base: s.URL()}

	if _, body := v.do("GET", page, nil); strings.Contains(body, runForm) || !strings.Contains(body, "Sign in") {
		t.Fatalf("before signing in the project page shows the run form, or no Sign in")
	}
	resp, _ := v.do("POST", "/ui/login", url.Values{"token": {"not-the-token"}, "next": {page}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("sign-in with a wrong token: %d, cookies %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}

	resp, _ = v.do("POST", "/ui/login", url.Values{"token": {token}, "next": {page}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("sign-in: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	cookie := sessionCookie(t, resp)
	if cookie.Value == token || strings.Contains(cookie.Value, token) {
		t.Fatalf("the session cookie holds the API token: %q", cookie.Value)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure ||
		cookie.MaxAge != 30*24*3600 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure on http, 30 days", cookie)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(cookie.Value); err != nil || len(raw) != 32 {
		t.Errorf("session id %q: want 256 bits, base64url (%v)", cookie.Value, err)
	}

	// A second browser signs in too: another session, another id.
	resp, _ = v.do("POST", "/ui/login", url.Values{"token": {token}, "next": {"/"}})
	otherBrowser := sessionCookie(t, resp)
	if otherBrowser.Value == cookie.Value {
		t.Fatalf("two sign-ins got the same session id")
	}

	if _, body := v.do("GET", page, nil, cookie); !strings.Contains(body, runForm) || !strings.Contains(body, `action="/ui/logout"`) {
		t.Fatalf("signed in, the project page has no run form or no Sign out")
	}
	resp = run(cookie)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/pipelines/") {
		t.Fatalf("run signed in: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var id int64
	fmt.Sscanf(resp.Header.Get("Location"), "/pipelines/%d", &id)
	if pipe := uiWait(t, s, id); pipe.Source != store.SourceWeb || pipe.Status != store.Success {
		t.Errorf("pipeline %d: source %s, status %s", id, pipe.Source, pipe.Status)
	}
	// The API is unchanged: it takes the Bearer token, not a UI session.
	if resp, _ := v.do("POST", "/api/projects", url.Values{"name": {"x"}}, cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API call with only a session cookie: %d, want 401", resp.StatusCode)
	}

	copied := *cookie // what someone who took the cookie from this browser holds
	resp, _ = v.do("POST", "/ui/logout", url.Values{}, cookie)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if gone := sessionCookie(t, resp); gone.MaxAge >= 0 || gone.Value != "" {
		t.Errorf("sign-out left the cookie: %+v", gone)
	}
	resp = run(&copied)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
		t.Errorf("run with the signed-out cookie: %d to %s, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := v.do("GET", page, nil, &copied); strings.Contains(body, runForm) || !strings.Contains(body, "Sign in") {
		t.Errorf("with the signed-out cookie the project page still offers the run form")
	}
	if all, err := s.Store.ListPipelines(context.Background(), store.PipelineFilter{ProjectID: p.ID}); err != nil || len(all) != 1 {
		t.Errorf("%d pipelines (%v), want only the one run while signed in", len(all), err)
	}
	if _, body := v.do("GET", "/", nil, otherBrowser); !strings.Contains(body, `action="/ui/logout"`) {
		t.Errorf("signing out one browser signed out another")
	}

	for _, seen := range v.seen {
		if strings.Contains(seen, token) {
			t.Errorf("a response carries the API token:\n%s", seen)
		}
	}
	log := logs.String()
	if !strings.Contains(log, "ui: signed in") || !strings.Contains(log, "ui: signed out") {
		t.Errorf("the log does not record signing in and out:\n%s", log)
	}
	for _, secret := range []string{token, cookie.Value, otherBrowser.Value} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a secret (%.6s...):\n%s", secret, log)
		}
	}
	// The database (SQLite file and its write-ahead log) holds neither the
	// token nor a session id that works.
	files, _ := filepath.Glob(filepath.Join(dataDir, "slipway.db*"))
	if len(files) == 0 {
		t.Fatalf("no database files in %s", dataDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{token, otherBrowser.Value} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds a secret (%.6s...)", filepath.Base(f), secret)
			}
		}
	}
}

// uiSignedInWith says whether the pages take the visitor with this session
// cookie for signed in (they offer Sign out and the buttons).
func uiSignedInWith(t *testing.T, s *Server, value string) bool {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: uiSessionCookie, Value: value})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	in, out := strings.Contains(body, `action="/ui/logout"`), strings.Contains(body, `href="/ui/login`)
	if rec.Code != http.StatusOK || in == out {
		t.Fatalf("GET / with a session cookie: %d, Sign out shown %v, Sign in shown %v", rec.Code, in, out)
	}
	return in
}

// uiOldSession makes a session that began at started and was last used at
// lastSeen, as if a browser had signed in then; it returns the cookie value
// and the session's key in the store.
func uiOldSession(t *testing.T, s *Server, started, lastSeen time.Time) (string, string) {
	t.Helper()
	ctx := context.Background()
	value, err := s.createUISession(ctx, started)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	hash := uiSessionHash(raw)
	if err := s.Store.TouchUISession(ctx, hash, lastSeen); err != nil {
		t.Fatal(err)
	}
	return value, hash
}

func uiSessionGone(t *testing.T, s *Server, hash string) bool {
	t.Helper()
	_, err := s.Store.UISession(context.Background(), hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err != nil
}

// TestUISessionEnds: a session ends 30 days after sign-in however busy, and
// after ui_session_idle without use (7 days unless configured); use moves
// the idle end on. An ended session is refused and deleted; the cleanup
// deletes ended sessions nobody brings back.
func TestUISessionEnds(t *testing.T) {
	t.Setenv("SLIPWAY_UI_TEST_TOKEN", "ui-token-0123456789")
	s := uiServer(t, "SLIPWAY_UI_TEST_TOKEN")
	ctx := context.Background()
	now, day := time.Now(), 24*time.Hour

	busy, busyHash := uiOldSession(t, s, now.Add(-29*day), now.Add(-time.Hour))
	if !uiSignedInWith(t, s, busy) {
		t.Errorf("a 29-day-old session used an hour ago is refused")
	}
	quiet, quietHash := uiOldSession(t, s, now.Add(-6*day), now.Add(-6*day))
	if !uiSignedInWith(t, s, quiet) {
		t.Errorf("a session idle for 6 days is refused (idle timeout 7 days)")
	}
	if sess, err := s.Store.UISession(ctx, quietHash); err != nil || sess.LastSeenAt.Before(now.Add(-time.Second)) {
		t.Errorf("using a session did not move its last use on: %+v %v", sess, err)
	}
	if sess, _ := s.Store.UISession(ctx, busyHash); sess.LastSeenAt.Before(now.Add(-time.Second)) {
		t.Errorf("using a session did not move its last use on: %+v", sess)
	}

	old, oldHash := uiOldSession(t, s, now.Add(-30*day-time.Minute), now.Add(-time.Minute))
	if uiSignedInWith(t, s, old) || !uiSessionGone(t, s, oldHash) {
		t.Errorf("a session past its 30 days is accepted or kept")
	}
	idle, idleHash := uiOldSession(t, s, now.Add(-8*day), now.Add(-8*day))
	if uiSignedInWith(t, s, idle) || !uiSessionGone(t, s, idleHash) {
		t.Errorf("a session idle for 8 days is accepted or kept")
	}
	for _, forged := range []string{base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "not a session id", ""} {
		if uiSignedInWith(t, s, forged) {
			t.Errorf("a made-up session id %q is accepted", forged)
		}
	}

	// The cleanup removes what no browser comes back with, and only that.
	_, endedHash := uiOldSession(t, s, now.Add(-31*day), now.Add(-time.Minute))
	_, idleToo := uiOldSession(t, s, now.Add(-9*day), now.Add(-8*day))
	_, liveHash := uiOldSession(t, s, now.Add(-time.Hour), now.Add(-time.Hour))
	s.expireUISessions(ctx)
	if !uiSessionGone(t, s, endedHash) || !uiSessionGone(t, s, idleToo) || uiSessionGone(t, s, liveHash) {
		t.Errorf("cleanup: ended gone %v, idle gone %v, live gone %v; want true, true, false",
			uiSessionGone(t, s, endedHash), uiSessionGone(t, s, idleToo), uiSessionGone(t, s, liveHash))
	}

	// ui_session_idle sets the idle timeout.
	short := uiServer(t, "SLIPWAY_UI_TEST_TOKEN", func(c *Config) { c.UISessionIdle = time.Hour })
	recent, _ := uiOldSession(t, short, now.Add(-30*time.Minute), now.Add(-30*time.Minute))
	stale, staleHash := uiOldSession(t, short, now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	if !uiSignedInWith(t, short, recent) {
		t.Errorf("ui_session_idle 1h: a session used 30 minutes ago is refused")
	}
	if uiSignedInWith(t, short, stale) || !uiSessionGone(t, short, staleHash) {
		t.Errorf("ui_session_idle 1h: a session idle for 2 hours is accepted or kept")
	}
}

// TestUISessionTokenChange: a restart keeps sessions, but a restart with
// another API token ends every session made with the old one.
func TestUISessionTokenChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db string) {
		const env = "SLIPWAY_UI_ROTATED_TOKEN"
		cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Database: db, Executor: "shell",
			APITokenEnv: env, PollInterval: time.Hour, ScheduleTick: time.Hour}
		t.Setenv(env, "first-token-0123456789")
		s := startUIServer(t, cfg, io.Discard)
		rec := uiPost(t, s, "/ui/login", url.Values{"token": {"first-token-0123456789"}})
		cookie := sessionCookie(t, rec.Result())
		raw, _ := base64.RawURLEncoding.DecodeString(cookie.Value)
		closeUIServer(s)

		s = startUIServer(t, cfg, io.Discard)
		if !uiSignedInWith(t, s, cookie.Value) {
			t.Errorf("a restart with the same token ended the session")
		}
		closeUIServer(s)

		t.Setenv(env, "second-token-9876543210")
		s = startUIServer(t, cfg, io.Discard)
		defer closeUIServer(s)
		if uiSignedInWith(t, s, cookie.Value) {
			t.Fatalf("a session made with the old token is accepted after the token changed")
		}
		if !uiSessionGone(t, s, uiSessionHash(raw)) {
			t.Errorf("the old token's session is kept")
		}
		if rec := uiPost(t, s, "/ui/login", url.Values{"token": {"first-token-0123456789"}}); rec.Code != http.StatusUnauthorized {
			t.Errorf("sign-in with the old token: %d, want 401", rec.Code)
		}
		rec = uiPost(t, s, "/ui/login", url.Values{"token": {"second-token-9876543210"}})
		if rec.Code != http.StatusSeeOther || !uiSignedInWith(t, s, sessionCookie(t, rec.Result()).Value) {
			t.Errorf("sign-in with the new token: %d", rec.Code)
		}
	})
}

// TestUISessionCookieOverHTTPS: with an https base_url the session cookie
// is Secure, both when set and when deleted.
func TestUISessionCookieOverHTTPS(t *testing.T) {
	t.Setenv("SLIPWAY_UI_TEST_TOKEN", "ui-token-0123456789")
	s := uiServer(t, "SLIPWAY_UI_TEST_TOKEN", func(c *Config) { c.BaseURL = "https://ci.example.com" })
	rec := uiPost(t, s, "/ui/login", url.Values{"token": {"ui-token-0123456789"}})
	c := sessionCookie(t, rec.Result())
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie with an https base_url: %+v, want Secure, HttpOnly, SameSite=Strict", c)
	}
	rec = uiPost(t, s, "/ui/logout", url.Values{}, c)
	if gone := sessionCookie(t, rec.Result()); !gone.Secure || gone.MaxAge >= 0 {
		t.Errorf("sign-out cookie with an https base_url: %+v", gone)
	}
}

// TestUIOldTokenCookie: the cookie in which an older Slipway kept the API
// token authorizes nothing, and the pages delete it from the browser.
func TestUIOldTokenCookie(t *testing.T) {
	t.Setenv("SLIPWAY_UI_TEST_TOKEN", "ui-token-0123456789")
	s := uiServer(t, "SLIPWAY_UI_TEST_TOKEN")
	p := uiProject(t, s, "old", t.TempDir())
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/projects/%d", p.ID), nil)
	req.AddCookie(&http.Cookie{Name: legacyTokenCookie, Value: "ui-token-0123456789"})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if body := rec.Body.String(); strings.Contains(body, `action="/ui/logout"`) || strings.Contains(body, fmt.Sprintf(`action="/ui/projects/%d/pipelines"`, p.ID)) {
		t.Errorf("the old token cookie still signs in")
	}
	var deleted bool
	for _, c := range rec.Result().Cookies() {
		deleted = deleted || (c.Name == legacyTokenCookie && c.MaxAge < 0 && c.Value == "")
	}
	if !deleted {
		t.Errorf("the old token cookie is not deleted: %v", rec.Header()["Set-Cookie"])
	}
}

// TestUISessionIdleConfig: ui_session_idle is read from the configuration
// file, defaults to 7 days, and a negative one stops the server from
// starting.
func TestUISessionIdleConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slipway.yml")
	if err := os.WriteFile(file, []byte("ui_session_idle: 12h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file)
	if err != nil || cfg.UISessionIdle != 12*time.Hour {
		t.Errorf("ui_session_idle: 12h read as %s (%v)", cfg.UISessionIdle, err)
	}
	var none Config
	none.DataDir = t.TempDir()
	if err := none.defaults(); err != nil || none.UISessionIdle != 7*24*time.Hour {
		t.Errorf("default ui_session_idle %s (%v), want 168h", none.UISessionIdle, err)
	}
	_, err = New(context.Background(), Config{DataDir: t.TempDir(), UISessionIdle: -time.Hour}, nil)
	if err == nil || !strings.Contains(err.Error(), "ui_session_idle") {
		t.Errorf("a negative ui_session_idle: %v, want an error naming it", err)
	}
}
