package receiver_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/gitops/receiver"
)

const secret = "it-is-a-long-receiver-secret"

const baseConfig = `sources:
  - {name: ops, url: /srv/git/ops.git}
deployments:
  - {name: prod, source: ops}
  - {name: staging, source: ops}
`

// fixture is the receivers of a config served over real HTTP, with the
// passes they ask for and the log they write.
type fixture struct {
	srv *httptest.Server
	h   *receiver.Handler
	log *bytes.Buffer

	mu     sync.Mutex
	passes []string
}

func newFixture(t *testing.T, receivers string, env map[string]string) *fixture {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "slipway-gitops.yaml")
	content := baseConfig + receivers
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gitops.ParseConfig(file, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	recvs, err := receiver.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{log: &bytes.Buffer{}}
	var logMu sync.Mutex
	f.h, err = receiver.New(recvs, receiver.Options{
		File:   file,
		Getenv: func(k string) string { return env[k] },
		Reconcile: func(d string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.passes = append(f.passes, d)
			return nil
		},
		MaxBodyBytes: 4096,
		Logger:       slog.New(slog.NewTextHandler(lockedWriter{&logMu, f.log}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) post(t *testing.T, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.passes...)
}

// githubSigned is how GitHub signs a delivery: X-Hub-Signature-256 is
// sha256= and the hex HMAC-SHA256 of the body with the hook's secret.
func githubSigned(event, key, body string) http.Header {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return http.Header{
		"Content-Type":        {"application/json"},
		"X-Github-Event":      {event},
		"X-Github-Delivery":   {"72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))},
	}
}

const pushBody = `{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}`

// TestGitHubSignedCallAsksForAPassAndAWrongOneIsRefused: a push signed as
// GitHub signs it asks for a pass of the receiver's deployments; a call
// signed with another secret, or not signed, is 403, asks for nothing and
// is logged by the receiver's name without the secret.
func TestGitHubSignedCallAsksForAPassAndAWrongOneIsRefused(t *testing.T) {
	f := newFixture(t, `receivers:
  - name: github-ops
    type: github
    secret_ref: env:OPS_HOOK_SECRET
    events: [push]
    deployments: [prod, staging]
`, map[string]string{"OPS_HOOK_SECRET": secret})
	path := receiver.Path("github-ops", []byte(secret))
	if got := f.h.Paths()["github-ops"]; got != path {
		t.Fatalf("Paths() = %q, want %q", got, path)
	}

	code, body := f.post(t, path, githubSigned("push", secret, pushBody), pushBody)
	if code != http.StatusAccepted || !slices.Equal(f.asked(), []string{"prod", "staging"}) {
		t.Fatalf("signed push: %d %s, passes asked %v; want 202 and prod, staging", code, body, f.asked())
	}

	wrong := githubSigned("push", "another-secret-of-some-length", pushBody)
	unsigned := githubSigned("push", secret, pushBody)
	unsigned.Del("X-Hub-Signature-256")
	tampered := githubSigned("push", secret, pushBody)
	for name, h := range map[string]http.Header{"wrong": wrong, "missing": unsigned, "tampered": tampered} {
		sent := pushBody
		if name == "tampered" {
			sent = strings.Replace(pushBody, "main", "evil", 1)
		}
		if code, body := f.post(t, path, h, sent); code != http.StatusForbidden {
			t.Errorf("%s signature: %d %s, want 403", name, code, body)
		}
	}
	if len(f.asked()) != 2 {
		t.Errorf("refused calls asked for passes: %v", f.asked())
	}
	logged := f.log.String()
	if strings.Count(logged, "receiver call refused") != 3 || !strings.Contains(logged, "receiver=github-ops") {
		t.Errorf("refusals not logged by the receiver's name:\n%s", logged)
	}
	if strings.Contains(logged, secret) || strings.Contains(logged, path) {
		t.Errorf("the log shows the secret or the path:\n%s", logged)
	}

	// Not its event; GitHub's ping; an unknown path; a GET.
	if code, body := f.post(t, path, githubSigned("issues", secret, "{}"), "{}"); code != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Errorf("issues event: %d %s, want 200 ignored", code, body)
	}
	if code, body := f.post(t, path, githubSigned("ping", secret, "{}"), "{}"); code != http.StatusOK || !strings.Contains(body, "pong") {
		t.Errorf("ping: %d %s, want 200 pong", code, body)
	}
	if code, _ := f.post(t, receiver.Path("github-ops", []byte("guessed-secret-of-length")), githubSigned("push", secret, pushBody), pushBody); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if resp, err := http.Get(f.srv.URL + path); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v, want 405", resp, err)
	} else {
		resp.Body.Close()
	}
	if len(f.asked()) != 2 {
		t.Errorf("ignored calls asked for passes: %v", f.asked())
	}
}

// TestEachTypeChecksItsForgesSignature: GitLab's token, Gitea's signature,
// the generic HMAC and the generic receiver's path, each right and wrong.
func TestEachTypeChecksItsForgesSignature(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "gitea.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, `receivers:
  - {name: gl, type: gitlab, secret_ref: env:S, events: [push], deployments: [prod]}
  - {name: gt, type: gitea, secret_ref: "file:`+secretFile+`", deployments: [prod]}
  - {name: hmac, type: generic-hmac, secret_ref: env:S, deployments: [prod]}
  - {name: plain, type: generic, secret_ref: env:S, deployments: [staging]}
`, map[string]string{"S": secret})
	sign := func(key, body string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	for _, c := range []struct {
		name, recv string
		header     http.Header
		want       int
	}{
		{"gitlab token", "gl", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {secret}}, 202},
		{"gitlab wrong token", "gl", http.Header{"X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Token": {"nope"}}, 403},
		{"gitlab tag push not wanted", "gl", http.Header{"X-Gitlab-Event": {"Tag Push Hook"}, "X-Gitlab-Token": {secret}}, 200},
		{"gitea signature", "gt", http.Header{"X-Gitea-Event": {"push"}, "X-Gitea-Signature": {sign(secret, pushBody)}}, 202},
		{"gitea wrong signature", "gt", http.Header{"X-Gitea-Event": {"push"}, "X-Gitea-Signature": {sign("x", pushBody)}}, 403},
		{"generic hmac", "hmac", http.Header{"X-Signature": {"sha256=" + sign(secret, pushBody)}}, 202},
		{"generic hmac missing", "hmac", http.Header{}, 403},
		{"generic hmac wrong", "hmac", http.Header{"X-Signature": {"sha256=" + sign("x", pushBody)}}, 403},
		{"generic", "plain", http.Header{}, 202},
	} {
		path := receiver.Path(c.recv, []byte(secret))
		if code, body := f.post(t, path, c.header, pushBody); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if got := f.asked(); !slices.Equal(got, []string{"prod", "prod", "prod", "staging"}) {
		t.Errorf("passes asked %v, want prod three times then staging", got)
	}
	if strings.Contains(f.log.String(), secret) {
		t.Errorf("the log shows the secret:\n%s", f.log.String())
	}
}

// TestBodyOverTheLimitIsRefused: the body is bounded before any check.
func TestBodyOverTheLimitIsRefused(t *testing.T) {
	f := newFixture(t, `receivers:
  - {name: github-ops, type: github, secret_ref: env:S, deployments: [prod]}
`, map[string]string{"S": secret})
	big := `{"pad":"` + strings.Repeat("x", 8192) + `"}`
	code, _ := f.post(t, receiver.Path("github-ops", []byte(secret)), githubSigned("push", secret, big), big)
	if code != http.StatusRequestEntityTooLarge || len(f.asked()) != 0 {
		t.Errorf("8 KiB body over a 4 KiB limit: %d, passes %v; want 413 and none", code, f.asked())
	}
}

// TestConfigMistakesNameTheirPosition: each mistake names file:line:col
// and the field.
func TestConfigMistakesNameTheirPosition(t *testing.T) {
	for _, c := range []struct{ receivers, want string }{
		{"receivers:\n  - {name: a, type: bitbucket, secret_ref: env:S, deployments: [prod]}\n", ":7:21: receivers[0].type: want one of github, gitlab, gitea, generic-hmac, generic"},
		{"receivers:\n  - {name: a, type: github, secret_ref: env:S, deployments: [prod, qa]}\n", `:7:68: receivers[0].deployments[1]: no deployment named "qa"`},
		{"receivers:\n  - {name: a, type: github, secret_ref: S, deployments: [prod]}\n", ":7:41: receivers[0].secret_ref: want env:VARIABLE or file:PATH"},
		{"receivers:\n  - {name: a, type: github, secret_ref: env:S}\n", ":7:5: receivers[0].deployments: required"},
		{"receivers:\n  - {name: a, type: generic, secret_ref: env:S, events: [push], deployments: [prod]}\n", ":7:5: receivers[0].events: generic receivers get no event name"},
		{"receivers:\n  - {name: a, type: github, secret_ref: env:S, deployments: [prod], branch: main}\n", ":7:69: receivers[0].branch: unknown key"},
	} {
		content := baseConfig + c.receivers
		cfg, err := gitops.ParseConfig("ops/slipway-gitops.yaml", []byte(content))
		if err != nil {
			t.Fatalf("the rest of the config: %v", err)
		}
		_, err = receiver.Parse(cfg, []byte(content))
		if err == nil || !strings.Contains(err.Error(), "ops/slipway-gitops.yaml"+c.want) {
			t.Errorf("%s: got %v, want ...%s", strings.TrimSpace(c.receivers), err, c.want)
		}
	}
}

// TestSecretMissingOrShortNamesItsField: New fails naming secret_ref's
// position, never showing the secret.
func TestSecretMissingOrShortNamesItsField(t *testing.T) {
	content := baseConfig + "receivers:\n  - {name: a, type: github, secret_ref: env:S, deployments: [prod]}\n"
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	recvs, err := receiver.Parse(cfg, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(string) error { return nil }
	for env, want := range map[string]string{"": "$S is not set", "short-one": "the secret has 9 bytes: want at least 16"} {
		_, err := receiver.New(recvs, receiver.Options{Getenv: func(string) string { return env }, Reconcile: noop})
		if err == nil || !strings.Contains(err.Error(), "slipway-gitops.yaml:7:41: receivers[0].secret_ref: "+want) {
			t.Errorf("secret %q: got %v, want %s at its position", env, err, want)
		}
		if env != "" && err != nil && strings.Contains(err.Error(), env) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}
