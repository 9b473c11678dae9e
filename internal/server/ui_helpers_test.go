package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// uiServer starts a real server on loopback with SQLite in a temp folder.
// tokenEnv, when set, names an environment variable holding an API token;
// tweaks change the configuration further.
func uiServer(t *testing.T, tokenEnv string, tweaks ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Executor: "shell", Concurrency: 4,
		APITokenEnv: tokenEnv, PollInterval: time.Hour, ScheduleTick: time.Hour}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	s := startUIServer(t, cfg, io.Discard)
	t.Cleanup(func() { closeUIServer(s) })
	return s
}

// startUIServer starts a real server with cfg, logging to logw; the caller
// closes it (closeUIServer), so that a test can restart it.
func startUIServer(t *testing.T, cfg Config, logw io.Writer) *Server {
	t.Helper()
	ctx := context.Background()
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		s.Close(ctx)
		t.Fatal(err)
	}
	return s
}

func closeUIServer(s *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Close(ctx)
}

// uiRepo makes a git repository with files on branch main, and the other
// branches given, each at the same commit.
func uiRepo(t *testing.T, files map[string]string, branches ...string) string {
	t.Helper()
	dir := testenv.GitRepo(t, files)
	for _, b := range branches {
		testenv.Git(t, dir, "branch", b)
	}
	return dir
}

func uiProject(t *testing.T, s *Server, name, repo string) store.Project {
	t.Helper()
	p, err := s.Store.CreateProject(context.Background(), store.Project{Name: name, RepoURL: repo, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func uiRun(t *testing.T, s *Server, p store.Project, ref string, vars map[string]string) store.Pipeline {
	t.Helper()
	pipe, err := s.Pipes.Create(context.Background(), p, pipelines.Trigger{Source: store.SourceAPI, Ref: ref, Variables: vars})
	if err != nil {
		t.Fatalf("run %s: %v", ref, err)
	}
	return pipe
}

// uiWait waits for a pipeline to end and returns it.
func uiWait(t *testing.T, s *Server, id int64) store.Pipeline {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		p, err := s.Store.GetPipeline(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Status.Active() && !s.Pipes.Running(id) {
			return p
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("pipeline %d did not end", id)
	return store.Pipeline{}
}

func uiJobs(t *testing.T, s *Server, pipelineID int64) map[string]store.Job {
	t.Helper()
	all, err := s.Store.ListJobs(context.Background(), pipelineID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Job{}
	for _, j := range pipelines.Latest(all) {
		out[j.Name] = j
	}
	return out
}

// uiGet asks the server's handler for a page, as a browser would.
func uiGet(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// uiPost submits a form, as a browser on the server's own pages would.
func uiPost(t *testing.T, s *Server, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}
