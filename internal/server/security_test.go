package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestAPITokenGuardsSecretsAndWrites: with an API token, secret values and
// changes need it; trigger tokens still work on their own; a browser's
// cross-site post is refused even without a token.
func TestAPITokenGuardsSecretsAndWrites(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: ['echo \"x=$X\"']\n"})
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("api_token_env: E2E_API_TOKEN\n"), 0o644)
	t.Setenv("E2E_API_TOKEN", "api-token-0123456789")
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	authed := func(method, path string, body string) int {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer api-token-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo}, nil); code != 401 {
		t.Errorf("create project without the token: %d", code)
	}
	if code := authed("POST", "/api/projects", `{"name": "shop", "repo_url": "`+repo+`"}`); code != 201 {
		t.Fatalf("create project with the token: %d", code)
	}
	if code := authed("PUT", "/api/projects/shop/variables/SSH_KEY", `{"value": "-----BEGIN KEY-----\nsecret\n-----END KEY-----"}`); code != 200 {
		t.Fatalf("set variable: %d", code)
	}
	if code := s.do("GET", "/api/projects/shop/variables", nil, nil); code != 401 {
		t.Errorf("anonymous read of variables: %d, want 401", code)
	}
	if code := authed("GET", "/api/projects/shop/variables", ""); code != 200 {
		t.Errorf("read of variables with the token: %d", code)
	}
	var trig struct{ Token string }
	req, _ := http.NewRequest("POST", s.url+"/api/projects/shop/triggers", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer api-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jsonDecode(resp, &trig)
	resp.Body.Close()
	resp, err = http.PostForm(s.url+"/api/projects/shop/trigger/pipeline", url.Values{"token": {trig.Token}, "ref": {"main"}, "variables[X]": {"hidden-value"}})
	if err != nil {
		t.Fatal(err)
	}
	var p pipeline
	jsonDecode(resp, &p)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("trigger token with an API token configured: %d", resp.StatusCode)
	}
	if body := s.text(fmt.Sprintf("/api/pipelines/%d", p.ID)); strings.Contains(body, "hidden-value") || !strings.Contains(body, `"X"`) {
		t.Errorf("an anonymous reader sees the pipeline's variable values:\n%s", body)
	}

	// A page on another site cannot make a browser change anything here.
	open := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	req, _ = http.NewRequest("POST", open.url+"/api/projects", strings.NewReader(`{"name": "evil", "repo_url": "/tmp"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", resp.StatusCode)
	}
}

// TestJobTokenIsTheJobs: a job cannot deploy another job's environment
// with its own CI_JOB_TOKEN.
func TestJobTokenIsTheJobs(t *testing.T) {
	s, _, sha := webProjectPipeline(t, `
intruder:
  script:
    - CI_JOB_NAME=deploy slipway env deploy --compose compose.yaml
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
deploy:
  stage: deploy
  script: [slipway env deploy --compose compose.yaml]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
  when: manual
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: manual
`)
	p := mergeRequest(t, s, 1, "open", "feature/x", sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool {
		return p.job("intruder").Status == "failed" || p.job("intruder").Status == "success"
	})
	log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("intruder").ID))
	if p.job("intruder").Status != "failed" || !strings.Contains(log, "belongs to job intruder") {
		t.Errorf("intruder %s:\n%s", p.job("intruder").Status, log)
	}
	if e := s.environment("review/feature-x"); e.ID != 0 {
		t.Errorf("the intruder deployed %+v", e)
	}
}

// TestForgedHostRefused: a request naming a host that is not the server's
// (what a DNS-rebinding page sends) is refused before it reaches anything,
// even with the API token; loopback names, the listen address and
// allowed_hosts are served.
func TestForgedHostRefused(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("allowed_hosts: [ci.example.com]\n"), 0o644)
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	_, port, _ := strings.Cut(strings.TrimPrefix(s.url, "http://"), ":")
	post := func(host, name string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/api/projects", strings.NewReader(`{"name": "`+name+`", "repo_url": "/tmp"}`))
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"rebind.evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port} {
		if code, body := post(host, "evil"); code != http.StatusMisdirectedRequest || !strings.Contains(body, "allowed_hosts") {
			t.Errorf("Host %q: %d %s, want 421 naming allowed_hosts", host, code, body)
		}
	}
	if code := s.do("GET", "/api/projects/evil", nil, nil); code != 404 {
		t.Errorf("a forged Host created a project: GET %d", code)
	}
	for i, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "CI.example.com", "[::1]:" + port} {
		if code, body := post(host, fmt.Sprintf("ok%d", i)); code != 201 {
			t.Errorf("Host %q: %d %s, want 201", host, code, body)
		}
	}
}

// TestServeMakesAPIToken: `slipway serve` without api_token_env makes an
// API token at its first start and prints it once; changes need it from
// then on, and a restart keeps it without printing it again.
func TestServeMakesAPIToken(t *testing.T) {
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	// It is printed just after the server answers.
	deadline := time.Now().Add(10 * time.Second)
	for s.token != "" && !strings.Contains(s.stderr.String(), s.token) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.token == "" || !strings.Contains(s.stderr.String(), s.token) {
		t.Fatalf("serve did not print the token it made (%q):\n%s", s.token, s.stderr)
	}
	if strings.Count(s.stderr.String(), s.token) != 1 {
		t.Errorf("the token is printed more than once:\n%s", s.stderr)
	}
	req, _ := http.NewRequest("POST", s.url+"/api/projects", strings.NewReader(`{"name": "shop", "repo_url": "/tmp"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("create project without the token: %d, want 401", resp.StatusCode)
	}
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": "/tmp"}, nil); code != 201 {
		t.Errorf("create project with the printed token: %d", code)
	}
	token := s.token
	s.stop()
	again := s.restart()
	if again.token != token || strings.Contains(again.stderr.String(), token) {
		t.Errorf("after a restart: token %q (was %q), printed again: %v", again.token, token, strings.Contains(again.stderr.String(), token))
	}
}
