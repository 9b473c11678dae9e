package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestGitopsNeedsTheTokenToChangeAnything: with an API token, the GitOps
// API and page are open to read, while reconciling and running an image
// update need the token (API) or a sign-in (the page's button); a server
// without gitops: answers 404 and its header has no GitOps link.
func TestGitopsNeedsTheTokenToChangeAnything(t *testing.T) {
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	t.Setenv("SLIPWAY_GITOPS_TEST_TOKEN", "gitops-token-5c1e9a")
	work := testenv.GitRepo(t, map[string]string{"README": "no apps yet\n"})
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	os.WriteFile(file, []byte("sources: [{name: ops, url: "+work+", interval: 1h}]\n"+
		"deployments: [{name: guarded, source: ops, path: apps, interval: 1h}]\n"+
		"imagePolicies: [{name: app, image: 127.0.0.1:1/app, policy: {semver: {range: '>=1.0.0'}}}]\n"+
		"imageUpdates: [{name: images, url: "+work+", interval: 1h}]\n"), 0o644)
	proxyAddr := testenv.FreeAddr(t)
	s := uiServer(t, "SLIPWAY_GITOPS_TEST_TOKEN", func(c *Config) {
		c.Gitops.Config = file
		c.Proxy.Embedded.Listen = proxyAddr // not the default port: other servers may run
		c.Proxy.Embedded.StorageDir = t.TempDir()
	})

	code, body := uiGet(t, s, "/api/gitops")
	if code != 200 || !strings.Contains(body, `"name": "guarded"`) || !strings.Contains(body, `"name": "images"`) {
		t.Errorf("GET /api/gitops: %d %s", code, body)
	}
	// Each run of the hourly update moves its last run: wait for the first.
	lastRun := func() time.Time { return s.gitops.images.Status().Updates[0].LastRun }
	deadline := time.Now().Add(time.Minute)
	waitRunAfter := func(what string, t0 time.Time) time.Time {
		t.Helper()
		for !lastRun().After(t0) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the image update did not run", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return lastRun()
	}
	run := waitRunAfter("the first run", time.Time{})
	for _, path := range []string{"/api/gitops/guarded/reconcile", "/api/gitops/images/images/run"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("POST %s without the token: %d, want 401", path, rec.Code)
		}
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Authorization", "Bearer gitops-token-5c1e9a")
		rec = httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Errorf("POST %s with the token: %d %s, want 202", path, rec.Code, rec.Body)
		}
	}

	code, page := uiGet(t, s, "/gitops")
	if code != 200 || strings.Contains(page, `action="/ui/gitops/guarded/reconcile"`) || !strings.Contains(page, `with the server's API token to reconcile`) {
		t.Errorf("the GitOps page before signing in: %d, with a Reconcile button or without Sign in:\n%s", code, page)
	}
	if strings.Contains(page, `action="/ui/gitops/images/images/run"`) {
		t.Errorf("the GitOps page offers Run now before signing in")
	}
	for _, path := range []string{"/ui/gitops/guarded/reconcile", "/ui/gitops/images/images/run"} {
		rec := uiPost(t, s, path, nil)
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login?next=") {
			t.Errorf("%s without signing in: %d to %q, want the sign-in page", path, rec.Code, loc)
		}
	}

	// Signed in (here with the token), Run now runs the update at once,
	// though its interval is an hour.
	run = waitRunAfter("POST /api/gitops/images/images/run", run)
	req := httptest.NewRequest(http.MethodPost, "/ui/gitops/images/images/run", nil)
	req.Header.Set("Authorization", "Bearer gitops-token-5c1e9a")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/gitops" {
		t.Errorf("Run now signed in: %d to %q, want back to /gitops", rec.Code, loc)
	}
	waitRunAfter("Run now", run)
	if st := s.gitops.images.Status().Updates[0]; !strings.Contains(st.Error, "image policy app") {
		t.Errorf("after Run now the update's error is %q, want the policy's scan error", st.Error)
	}

	plain := uiServer(t, "")
	if code, _ := uiGet(t, plain, "/api/gitops"); code != http.StatusNotFound {
		t.Errorf("GET /api/gitops without gitops: %d, want 404", code)
	}
	if code, page := uiGet(t, plain, "/"); code != 200 || strings.Contains(page, `href="/gitops"`) {
		t.Errorf("a server without gitops links the GitOps page")
	}
	if code, page := uiGet(t, s, "/"); code != 200 || !strings.Contains(page, `href="/gitops"`) {
		t.Errorf("a server with gitops does not link the GitOps page")
	}
}

// TestGitopsStateWithoutConfigIsRefused: a state folder alone is a
// half-written gitops: section, not GitOps turned off.
func TestGitopsStateWithoutConfigIsRefused(t *testing.T) {
	_, err := New(context.Background(), Config{DataDir: t.TempDir(), Gitops: GitopsConfig{State: t.TempDir()}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "gitops.state: GitOps needs gitops.config") {
		t.Errorf("New with gitops.state only: %v", err)
	}
}

// TestGitopsReadyMetricForgetsAppsThatLeft: slipway_gitops_app_ready has a
// series for each app of the last pass; an app pruned, or whose folder left
// git while it was failing (it never ran, so it is not pruned), loses its
// series instead of showing 0 forever.
func TestGitopsReadyMetricForgetsAppsThatLeft(t *testing.T) {
	g := newGitopsLoops(&gitops.Config{})
	series := func() map[string]float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(g.ready)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				out[labels["deployment"]+"/"+labels["app"]] = m.GetGauge().GetValue()
			}
		}
		return out
	}
	g.observe(gitops.DeploymentStatus{Name: "prod", Condition: gitops.Stalled, Apps: []gitops.AppStatus{
		{Name: "web", Condition: gitops.Ready}, {Name: "api", Condition: gitops.Ready}, {Name: "broken", Condition: gitops.Stalled}}})
	if got := series(); len(got) != 3 || got["prod/web"] != 1 || got["prod/broken"] != 0 {
		t.Fatalf("after the first pass: %v", got)
	}
	// broken's folder was removed; api was pruned.
	g.observe(gitops.DeploymentStatus{Name: "prod", Condition: gitops.Ready, Apps: []gitops.AppStatus{
		{Name: "web", Condition: gitops.Ready}, {Name: "api", Condition: gitops.Ready, Reason: gitops.ReasonPruned}}})
	if got := series(); len(got) != 1 || got["prod/web"] != 1 {
		t.Errorf("after broken left git and api was pruned: %v, want only prod/web", got)
	}
}
