package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
