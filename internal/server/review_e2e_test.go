package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// exampleRepo copies examples/review-app (a module of its own) into a git
// repository of its own, as a user would, with main and a branch, and
// returns it.
func exampleRepo(t *testing.T, branch string, edit func(ci string) string) string {
	t.Helper()
	src := exampleDir
	dir := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == ".gitlab-ci.yml" && edit != nil {
			data = []byte(edit(string(data)))
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "Review app")
	run(t, dir, "git", "checkout", "-q", "-b", branch)
	os.WriteFile(filepath.Join(dir, "CHANGES"), []byte("login page\n"), 0o644)
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "Login page")
	return dir
}

// reviewServer starts a server with environments on the real Docker engine
// behind the embedded Caddy; jobs find `slipway` on their PATH.
func reviewServer(t testing.TB, extra string) (*serverProc, string) {
	t.Helper()
	return reviewServerWith(t, "", extra)
}

// reviewServerWith is reviewServer with more environments settings
// (envExtra: YAML lines indented by two spaces).
func reviewServerWith(t testing.TB, envExtra, extra string) (*serverProc, string) {
	t.Helper()
	testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	t.Setenv("PATH", filepath.Dir(slipwayBin)+":"+os.Getenv("PATH"))
	proxyAddr := testenv.FreeAddr(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte(fmt.Sprintf(`
concurrency: 4
proxy:
  embedded:
    listen: %s
  domain: review.example.com
environments:
  enabled: true
  ports: 18040-18999
  auto_stop_tick: 500ms
%s%s`, proxyAddr, envExtra, extra)), 0o644)
	return startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config), proxyAddr
}

func mergeRequestHook(t testing.TB, s *serverProc, action, branch, sha string) pipeline {
	t.Helper()
	attrs := map[string]any{
		"iid": 7, "title": "Login", "action": action,
		"source_branch": branch, "target_branch": "main",
		"last_commit": map[string]any{"id": sha, "message": "Login page"},
	}
	if action == "update" {
		attrs["oldrev"] = strings.Repeat("1", 40) // new commits were pushed
	}
	code, p := s.hook("Merge Request Hook", map[string]any{
		"object_kind":       "merge_request",
		"project":           map[string]any{"path_with_namespace": "mute/app", "default_branch": "main"},
		"object_attributes": attrs,
	})
	if action != "merge" && action != "close" && code != 202 {
		t.Fatalf("merge request %s: %d", action, code)
	}
	return p
}

// hook sends a GitLab webhook to project shop and returns the answer's
// code and the pipeline it created, once created.
func (s *serverProc) hook(event string, payload any) (int, pipeline) {
	s.t.Helper()
	body, _ := json.Marshal(payload)
	req, _ := http.NewRequest("POST", s.url+"/hooks/shop", bytes.NewReader(body))
	req.Header.Set("X-Gitlab-Event", event)
	req.Header.Set("X-Gitlab-Token", secret)
	code, d := s.sendHook(req)
	return code, s.deliveredPipeline(d)
}

// viaProxy asks the proxy for path on host.
func viaProxy(proxyAddr, host, path string) (int, string, error) {
	return proxytest.Get(http.DefaultClient, "http://"+proxyAddr+path, host)
}

type environment struct {
	ID        int64             `json:"id"`
	ProjectID int64             `json:"project_id"`
	Name      string            `json:"name"`
	Slug      string            `json:"slug"`
	State     string            `json:"state"`
	URL       string            `json:"url"`
	Images    map[string]string `json:"images"`
	HostKey   string            `json:"host_key"`
}

// host is where the proxy serves the main service of e (service "") or
// another: an environment named review/$CI_COMMIT_REF_SLUG gets the seed's
// review-<branch>[-service].review.example.com (docs/proxy.md).
func (e environment) host(service string) string {
	h := "review-" + strings.TrimPrefix(e.Name, "review/")
	if service != "" {
		h += "-" + service
	}
	return h + ".review.example.com"
}

func (s *serverProc) environment(name string) environment {
	var envs []environment
	s.do("GET", "/api/projects/shop/environments", nil, &envs)
	for _, e := range envs {
		if e.Name == name {
			return e
		}
	}
	return environment{}
}

// waitEnvironment waits up to two minutes for environment name to reach one
// of the states done, and returns the state it is in then.
func (s *serverProc) waitEnvironment(name string, done ...string) string {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := s.environment(name).State
		if slices.Contains(done, st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReviewEnvironmentLifecycle: the example under a merge request, from
// the opened webhook to the merged one, on the real engine and Caddy.
func TestReviewEnvironmentLifecycle(t *testing.T) {
	const branch = "feature/login"
	// Without the test job: compiling the example in a job outlasts the
	// waits here on a loaded machine; TestExampleIsSelfContained runs it.
	repo := exampleRepo(t, branch, func(ci string) string {
		start, end := strings.Index(ci, "test:\n"), strings.Index(ci, "build:\n")
		return ci[:start] + ci[end:]
	})
	var mu sync.Mutex
	var statuses []map[string]any
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st map[string]any
		json.NewDecoder(r.Body).Decode(&st)
		mu.Lock()
		statuses = append(statuses, st)
		mu.Unlock()
	}))
	defer forge.Close()
	t.Setenv("E2E_FORGE_TOKEN", "forge-token-123")
	s, proxyAddr := reviewServer(t, "notify:\n  - type: github\n    base_url: "+forge.URL+"\n    token_env: E2E_FORGE_TOKEN\n    events: [job.success]\n")
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "webhook_secret": secret}, nil); code != 201 {
		t.Fatal(code)
	}
	sha := strings.TrimSpace(run(t, repo, "git", "rev-parse", branch))
	p := mergeRequestHook(t, s, "open", branch, sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool {
		return finished(p) || p.job("stop_review").Status == "manual" && p.job("deploy_review").Status == "success"
	})
	if p.job("deploy_review").Status != "success" {
		for _, j := range p.Jobs {
			t.Logf("job %s %s\n%s", j.Name, j.Status, s.text(fmt.Sprintf("/api/jobs/%d/log", j.ID)))
		}
		t.Fatalf("deploy failed: %+v", p)
	}
	envName := "review/" + slug.Ref(branch)
	e := s.environment(envName)
	if e.State != "available" {
		t.Fatalf("environment %+v", e)
	}
	appHost, sigverHost := e.host(""), e.host("sigver")
	for _, host := range []string{appHost, sigverHost} {
		code, _, err := viaProxy(proxyAddr, host, "/healthz")
		if err != nil || code != 200 {
			t.Errorf("%s: %d %v", host, code, err)
		}
	}
	if code, body, _ := viaProxy(proxyAddr, appHost, "/api/branch"); code != 200 || strings.TrimSpace(body) != branch {
		t.Errorf("the app read %q (%d) from its injected file, want %q", body, code, branch)
	}
	// Those answers are counted per route and generation (docs/proxy.md);
	// the route id holds the environment's host key and slug.
	if m := s.text("/metrics"); !regexp.MustCompile(`slipway_proxy_requests_total\{code="2xx",route="slipway-[a-z0-9-]*`+e.Slug+`--app",version="1"\} [1-9]`).MatchString(m) ||
		!strings.Contains(m, "slipway_proxy_request_duration_seconds_bucket{") {
		t.Errorf("/metrics has no proxy series of %s:\n%s", e.Slug, m)
	}
	// The merge request shows the environment's URL: a commit status of the
	// deployed commit whose target is the environment.
	deadline := time.Now().Add(10 * time.Second)
	found := false
	for !found && time.Now().Before(deadline) {
		mu.Lock()
		for _, st := range statuses {
			found = found || st["context"] == "slipway/environment "+envName && st["target_url"] == e.URL && st["state"] == "success"
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if !found || !strings.HasPrefix(e.URL, "http://"+appHost) {
		t.Errorf("no commit status with the environment's URL %q: %v", e.URL, statuses)
	}

	// A second push to the merge request redeploys while requests keep
	// being answered.
	os.WriteFile(filepath.Join(repo, "CHANGES"), []byte("login page, take 2\n"), 0o644)
	run(t, repo, "git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qam", "Take 2")
	sha2 := strings.TrimSpace(run(t, repo, "git", "rev-parse", branch))
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := viaProxy(proxyAddr, appHost, "/api/branch")
				requests.Add(1)
				if err != nil || code != 200 {
					failures.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	p2 := mergeRequestHook(t, s, "update", branch, sha2)
	p2 = s.waitPipeline(p2.ID, func(p pipeline) bool { return finished(p) || p.job("deploy_review").Status == "success" })
	close(stop)
	wg.Wait()
	if p2.job("deploy_review").Status != "success" {
		t.Fatalf("redeploy: %+v", p2)
	}
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed during the redeploy", failures.Load(), requests.Load())
	}
	e = s.environment(envName)
	if len(e.Images) != 2 || !strings.Contains(e.Images["app"], "@sha256:") || requests.Load() == 0 {
		t.Fatalf("environment images %v (want both services by digest), %d requests", e.Images, requests.Load())
	}
	t.Logf("redeploy under load: %d requests, %d failed; images %v", requests.Load(), failures.Load(), e.Images)

	// The merge request is merged: the stop job runs and nothing is left.
	mergeRequestHook(t, s, "merge", branch, sha2)
	if st := s.waitEnvironment(envName, "stopped"); st != "stopped" {
		t.Fatalf("environment %s after the merge, want stopped\n%s", st, s.jobReport(p2.ID, "stop_review"))
	}
	// The stop job ends just after its `slipway env stop` returned.
	stopped := s.waitJobDone(p2.ID, "stop_review")
	if stopped.job("stop_review").Status != "success" {
		t.Errorf("stop job did not succeed\n%s", s.jobReport(p2.ID, "stop_review"))
	}
	checkNothingLeft(t, s, e, proxyAddr, appHost)
	// The images the pipeline built for the environment leave the host too.
	cli := testenv.Docker(t)
	for _, ref := range e.Images {
		tagged, _, _ := strings.Cut(ref, "@")
		if _, err := cli.ImageInspect(context.Background(), tagged); err == nil {
			t.Errorf("image %s left on the host", tagged)
		}
	}
}

// jobReport is what a failure message says of a pipeline's job: its status,
// failure reason, error and log (the server log follows when the test
// fails).
func (s *serverProc) jobReport(pipelineID int64, name string) string {
	var p pipeline
	s.do("GET", fmt.Sprintf("/api/pipelines/%d", pipelineID), nil, &p)
	j := p.job(name)
	if j.ID == 0 {
		return fmt.Sprintf("pipeline %d (%s) has no job %s: %+v", pipelineID, p.Status, name, p.Jobs)
	}
	return fmt.Sprintf("job %s (id %d): %s, failure reason %q, error %q; its log:\n%s",
		name, j.ID, j.Status, j.FailureReason, j.Error, s.text(fmt.Sprintf("/api/jobs/%d/log", j.ID)))
}

// checkNothingLeft looks through Docker, the proxy and the registry for
// anything of an environment.
func checkNothingLeft(t *testing.T, s *serverProc, e environment, proxyAddr, host string) {
	t.Helper()
	if e.HostKey == "" {
		t.Fatalf("environment %+v: the API gave no host_key (the slipway.env label of its containers)", e)
	}
	cli := testenv.Docker(t)
	ctx := context.Background()
	f := client.Filters{}.Add("label", "slipway.env="+e.HostKey)
	containers, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(containers.Items) > 0 {
		t.Errorf("%d containers left", len(containers.Items))
	}
	networks, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(networks.Items) > 0 {
		t.Errorf("%d networks left", len(networks.Items))
	}
	var routes []struct{ ID string }
	s.do("GET", "/api/proxy/routes", nil, &routes)
	for _, r := range routes {
		if strings.Contains(r.ID, e.Slug) {
			t.Errorf("route %s left", r.ID)
		}
	}
	if code, _, _ := viaProxy(proxyAddr, host, "/healthz"); code == 200 {
		t.Errorf("%s still answers", host)
	}
	data, _ := os.ReadFile(filepath.Join(s.dataDir, "ports", "ports.json"))
	if strings.Contains(string(data), e.Slug) {
		t.Errorf("port reservations left: %s", data)
	}
	for _, ref := range e.Images {
		repoTag, _, _ := strings.Cut(ref, "@")
		i := strings.LastIndex(repoTag, ":")
		host, repo, _ := strings.Cut(repoTag[:i], "/")
		resp, err := http.Get("http://" + host + "/v2/" + repo + "/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		var tags struct{ Tags []string }
		json.NewDecoder(resp.Body).Decode(&tags)
		resp.Body.Close()
		for _, tag := range tags.Tags {
			if tag == repoTag[i+1:] {
				t.Errorf("image tag %s left in the registry", repoTag)
			}
		}
	}
}
