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
	s := uiServer(t, "SLIPWAY_GITOPS_TEST_TOKEN", func(c *Config) { c.Gitops.Config = file })

	code, body := uiGet(t, s, "/api/gitops")
	if code != 200 || !strings.Contains(body, `"name": "guarded"`) || !strings.Contains(body, `"name": "images"`) {
		t.Errorf("GET /api/gitops: %d %s", code, body)
	}
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
	rec := uiPost(t, s, "/ui/gitops/guarded/reconcile", nil)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login?next=") {
		t.Errorf("Reconcile now without signing in: %d to %q, want the sign-in page", rec.Code, loc)
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
