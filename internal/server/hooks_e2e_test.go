package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// heldGitServer serves a repository over git's dumb HTTP protocol on
// loopback, holding every request until released: a forge's git server
// that is slow to answer.
type heldGitServer struct {
	URL     string
	arrived chan struct{} // closed at the first request
	release func()
}

func newHeldGitServer(t *testing.T, repo string) *heldGitServer {
	testenv.Git(t, repo, "update-server-info")
	files := http.FileServer(http.Dir(filepath.Join(repo, ".git")))
	released := make(chan struct{})
	h := &heldGitServer{arrived: make(chan struct{})}
	var arrive, release sync.Once
	h.release = func() { release.Do(func() { close(released) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrive.Do(func() { close(h.arrived) })
		select {
		case <-released:
		case <-r.Context().Done():
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(h.release) // runs first: the server's Close waits for held requests
	h.URL = srv.URL + "/"
	return h
}

// TestWebhookAnsweredBeforeTheFetchAndKeptAcrossACrash: the forge gets its
// answer (202 with the delivery's id) while the fetch still hangs on the
// git server; the server is killed during that fetch, and once started
// again it creates the pipeline from the recorded delivery, once.
func TestWebhookAnsweredBeforeTheFetchAndKeptAcrossACrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db string) {
		repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
		git := newHeldGitServer(t, repo)
		// Before the fix the answer waits for the fetch: let it end some
		// time, so that the test fails rather than hangs.
		guard := time.AfterFunc(time.Minute, git.release)
		defer guard.Stop()
		s := startServer(t, db, t.TempDir(), "")
		if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": git.URL, "default_branch": "main", "webhook_secret": secret}, nil); code != 201 {
			t.Fatalf("create project: %d", code)
		}

		code, d := githubPushDelivery(t, s, sha, "", "crash-1")
		if code != 202 || d.ID == 0 || d.Status != "queued" || d.DeliveryID != "crash-1" {
			t.Fatalf("webhook answered %d %+v, want 202 with the queued delivery", code, d)
		}
		<-git.arrived // the server works on it: its fetch hangs
		if got := s.waitDelivery(d.ID, "running"); got.PipelineID != 0 {
			t.Fatalf("delivery %+v", got)
		}
		s.kill()
		git.release()

		s = s.restart()
		done := s.waitDelivery(d.ID)
		if done.Status != "done" || done.PipelineID == 0 {
			t.Fatalf("after the restart the delivery is %+v", done)
		}
		if p := s.waitPipeline(done.PipelineID, finished); p.Status != "success" || p.SHA != sha {
			t.Errorf("pipeline %+v", p)
		}
		var ps []pipeline
		s.do("GET", "/api/projects/shop/pipelines", nil, &ps)
		if len(ps) != 1 {
			t.Errorf("%d pipelines, want 1", len(ps))
		}
	})
}

// TestRedeliveriesStartNoSecondPipeline: GitHub, GitLab and Gitea each
// send a delivery twice (a redelivery from their settings page): the
// second answer is 200, says it is a duplicate and names the first
// delivery; one pipeline each.
func TestRedeliveriesStartNoSecondPipeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db string) {
		repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
		s := startServer(t, db, t.TempDir(), "")
		newProject(t, s, repo)
		push := map[string]any{
			"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
			"project": map[string]any{"path_with_namespace": "acme/shop"}, "repository": map[string]any{"full_name": "acme/shop"},
		}
		body, _ := json.Marshal(push)
		sends := map[string]func() (int, delivery){
			"github": func() (int, delivery) { return githubPushDelivery(t, s, sha, "", "gh-1") },
			"gitlab": func() (int, delivery) {
				req, _ := http.NewRequest("POST", s.url+"/hooks/shop", bytes.NewReader(body))
				req.Header.Set("X-Gitlab-Event", "Push Hook")
				req.Header.Set("X-Gitlab-Token", secret)
				req.Header.Set("X-Gitlab-Event-UUID", "gl-1")
				return s.sendHook(req)
			},
			"gitea": func() (int, delivery) {
				req, _ := http.NewRequest("POST", s.url+"/hooks/shop", bytes.NewReader(body))
				req.Header.Set("X-Gitea-Event", "push")
				req.Header.Set("X-Gitea-Signature", strings.TrimPrefix(sign(secret, body), "sha256="))
				req.Header.Set("X-Gitea-Delivery", "gt-1")
				return s.sendHook(req)
			},
		}
		for name, send := range sends {
			code, first := send()
			if code != 202 || first.ID == 0 || first.Duplicate {
				t.Fatalf("%s: first delivery answered %d %+v", name, code, first)
			}
			code, again := send()
			if code != 200 || !again.Duplicate || again.ID != first.ID || !strings.Contains(again.Message, "duplicate") {
				t.Errorf("%s: redelivery answered %d %+v, want 200 naming delivery %d as a duplicate", name, code, again, first.ID)
			}
			p := s.deliveredPipeline(first)
			s.waitPipeline(p.ID, finished)
			// Once done, a redelivery names the pipeline it made.
			if code, late := send(); code != 200 || late.PipelineID != p.ID {
				t.Errorf("%s: late redelivery answered %d %+v, want pipeline %d", name, code, late, p.ID)
			}
		}
		var ps []pipeline
		s.do("GET", "/api/projects/shop/pipelines", nil, &ps)
		if len(ps) != len(sends) {
			t.Errorf("%d pipelines, want %d (one per delivery)", len(ps), len(sends))
		}
	})
}

// TestWebhookBodyLimit: an unauthenticated body over 1 MiB is refused
// with 413 and a message naming the limit; a project whose forge sends
// bigger pushes raises the limit for that provider in the configuration.
func TestWebhookBodyLimit(t *testing.T) {
	repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	big := githubPushBody(sha, 1<<20)
	code, d := s.githubHook(big, "", newDeliveryID())
	if code != 413 || !strings.Contains(d.Message, "limit of 1048576 bytes for github webhooks") {
		t.Errorf("a %d-byte push answered %d %q, want 413 naming the limit", len(big), code, d.Message)
	}
	// Chunked, without a Content-Length, the same.
	req, _ := http.NewRequest("POST", s.url+"/hooks/shop", struct{ *bytes.Reader }{bytes.NewReader(big)})
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", sign(secret, big))
	if code, d := s.sendHook(req); code != 413 {
		t.Errorf("chunked: %d %q, want 413", code, d.Message)
	}
	var ps []pipeline
	s.do("GET", "/api/projects/shop/pipelines", nil, &ps)
	if len(ps) != 0 {
		t.Errorf("a refused delivery made %d pipelines", len(ps))
	}

	config := filepath.Join(t.TempDir(), "slipway.yml")
	os.WriteFile(config, []byte("webhooks:\n  max_body_bytes_by_provider:\n    github: 4194304\n"), 0o644)
	raised := startServer(t, storetest.SQLiteURL(t), t.TempDir(), config)
	newProject(t, raised, repo)
	code, d = raised.githubHook(big, "", newDeliveryID())
	if code != 202 {
		t.Fatalf("with github's limit at 4 MiB: %d %q", code, d.Message)
	}
	if p := raised.waitPipeline(raised.deliveredPipeline(d).ID, finished); p.Status != "success" {
		t.Errorf("pipeline %+v", p)
	}
}

// TestWebhookGitWork: a push of a commit the mirror holds runs no fetch
// and no set-url; a fetch runs no automatic maintenance; each pipeline
// extracts its commit once. GIT_TRACE, inherited by the server, lists
// every git command it runs.
func TestWebhookGitWork(t *testing.T) {
	repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
	trace := filepath.Join(t.TempDir(), "git-trace")
	t.Setenv("GIT_TRACE", trace)
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	gitDuring := func(push func() pipeline) string {
		t.Helper()
		before, _ := os.ReadFile(trace)
		p := s.waitPipeline(push().ID, finished)
		if p.Status != "success" {
			t.Fatalf("pipeline %+v", p)
		}
		after, _ := os.ReadFile(trace)
		return string(after[len(before):])
	}
	push := func(sha string) func() pipeline {
		return func() pipeline { _, p := githubPush(t, s, sha, ""); return p }
	}
	gitDuring(push(sha)) // the first one clones the mirror

	again := gitDuring(push(sha))
	for _, cmd := range []string{"git fetch", "set-url", "git maintenance", "git gc"} {
		if strings.Contains(again, cmd) {
			t.Errorf("a push of a commit the mirror holds ran %s:\n%s", cmd, again)
		}
	}
	if n := strings.Count(again, "built-in: git archive"); n != 1 {
		t.Errorf("the commit was extracted %d times, want once:\n%s", n, again)
	}

	os.WriteFile(filepath.Join(repo, "new.txt"), []byte("new"), 0o644)
	testenv.Git(t, repo, "add", "-A")
	testenv.Git(t, repo, "commit", "-q", "-m", "New")
	fresh := gitDuring(push(testenv.Git(t, repo, "rev-parse", "main")))
	if !strings.Contains(fresh, "built-in: git fetch") {
		t.Errorf("a new commit was not fetched:\n%s", fresh)
	}
	for _, cmd := range []string{"set-url", "git maintenance", "git gc"} {
		if strings.Contains(fresh, cmd) {
			t.Errorf("the fetch of a new commit ran %s:\n%s", cmd, fresh)
		}
	}
}
