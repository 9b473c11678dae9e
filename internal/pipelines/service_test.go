package pipelines

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func newService(t *testing.T, url string) *Service {
	t.Helper()
	return newServiceAs(t, url, "test")
}

// newServiceAs is the service of a server named name, with a data folder
// of its own.
func newServiceAs(t *testing.T, url, name string) *Service {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := st.RegisterServer(context.Background(), name, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	s := &Service{
		Store: st, Mirrors: &mirror.Mirrors{Dir: filepath.Join(data, "repos")}, Logs: &joblog.Store{Dir: filepath.Join(data, "logs")},
		WorkDir: filepath.Join(data, "work"), Executor: "shell", Concurrency: 2, Updates: &Broker{}, Server: srv,
	}
	t.Cleanup(s.Shutdown)
	return s
}

// waitFor polls the pipeline until it leaves the active statuses.
func waitFor(t *testing.T, s *Service, id int64) store.Pipeline {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		p, err := s.Store.GetPipeline(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Status.Active() && !s.Running(id) {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pipeline %d did not finish", id)
	return store.Pipeline{}
}

func statuses(t *testing.T, s *Service, id int64) map[string]store.Status {
	jobs, err := s.Store.ListJobs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Status{}
	for _, j := range Latest(jobs) {
		out[j.Name] = j.Status
	}
	return out
}

func jobNamed(t *testing.T, s *Service, pipelineID int64, name string) store.Job {
	jobs, _ := s.Store.ListJobs(context.Background(), pipelineID)
	for _, j := range Latest(jobs) {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no job %s", name)
	return store.Job{}
}

const pipelineFile = `
stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo "building $CI_COMMIT_REF_NAME with token $DEPLOY_TOKEN"
    - echo "source=$CI_PIPELINE_SOURCE mr=$CI_MERGE_REQUEST_IID"
test:
  stage: test
  script: [test -f marker || exit 4]
deploy:
  stage: deploy
  script: [echo deployed]
  when: manual
  allow_failure: false
`

func TestServicePipelineRetryAndPlay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := newService(t, url)
		repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": pipelineFile})
		project, err := s.Store.CreateProject(ctx, store.Project{Name: "demo", RepoURL: repo, DefaultBranch: "main"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.SetVariable(ctx, store.Variable{ProjectID: project.ID, Name: "DEPLOY_TOKEN", Value: "hunter2-very-secret", Masked: true}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
		if err != nil {
			t.Fatal(err)
		}
		p = waitFor(t, s, p.ID)
		if p.Status != store.Failed {
			t.Errorf("pipeline %s, want failed (test exits 4)", p.Status)
		}
		want := map[string]store.Status{"build": store.Success, "test": store.Failed, "deploy": store.Skipped}
		if got := statuses(t, s, p.ID); !equal(got, want) {
			t.Errorf("jobs %v, want %v", got, want)
		}
		build := jobNamed(t, s, p.ID, "build")
		lines, _ := s.Logs.Read(p.ID, build.ID)
		log := strings.Join(lines, "\n")
		if !strings.Contains(log, "building main with token [MASKED]") || strings.Contains(log, "hunter2") {
			t.Errorf("build log not masked:\n%s", log)
		}
		if !strings.Contains(log, "source=push") {
			t.Errorf("predefined variables missing:\n%s", log)
		}

		// Fix the cause and retry the failed job: the pipeline goes on to
		// the blocking manual job.
		test := jobNamed(t, s, p.ID, "test")
		os.WriteFile(filepath.Join(repo, "marker"), nil, 0o644) // not committed: the retry must not see it
		if err := s.Retry(ctx, test.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, s, p.ID)
		if got := jobNamed(t, s, p.ID, "test"); got.Status != store.Failed || got.Attempt != 2 {
			t.Errorf("retried test = %s attempt %d, want failed again on attempt 2 (same commit)", got.Status, got.Attempt)
		}
		if err := s.Retry(ctx, jobNamed(t, s, p.ID, "build").ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, s, p.ID)
		if n := len(mustJobs(t, s, p.ID)); n < 5 {
			t.Errorf("%d job rows, want the old attempts kept", n)
		}
		if err := s.Play(ctx, jobNamed(t, s, p.ID, "build").ID); err == nil {
			t.Error("playing a job that is not manual was accepted")
		}
	})
}

func TestServiceManualPlayAndMergeRequest(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  script: ['echo "mr=$CI_MERGE_REQUEST_IID src=$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"']
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
deploy:
  stage: deploy
  script: [echo deployed]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: manual
after:
  stage: .post
  script: [echo after]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
`})
	project, _ := s.Store.CreateProject(ctx, store.Project{Name: "mr", RepoURL: repo, DefaultBranch: "main"})
	if _, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"}); !errors.Is(err, ErrNoPipeline) {
		t.Errorf("push: err = %v, want ErrNoPipeline", err)
	}
	p, err := s.Create(ctx, project, Trigger{Source: "merge_request_event", Ref: "main",
		MergeRequest: &store.MergeRequest{IID: 42, SourceBranch: "main", TargetBranch: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	p = waitFor(t, s, p.ID)
	if p.Status != store.Manual {
		t.Errorf("pipeline %s, want manual (blocked by deploy)", p.Status)
	}
	build := jobNamed(t, s, p.ID, "build")
	lines, _ := s.Logs.Read(p.ID, build.ID)
	if !strings.Contains(strings.Join(lines, "\n"), "mr=42 src=main") {
		t.Errorf("merge request variables missing: %q", lines)
	}
	if err := s.Play(ctx, jobNamed(t, s, p.ID, "deploy").ID); err != nil {
		t.Fatal(err)
	}
	p = waitFor(t, s, p.ID)
	if got := statuses(t, s, p.ID); p.Status != store.Success || got["deploy"] != store.Success || got["after"] != store.Success {
		t.Errorf("after play: pipeline %s, jobs %v", p.Status, got)
	}
}

func TestServiceBadPipelineFileFailsThePipeline(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  scirpt: [x]\n"})
	project, _ := s.Store.CreateProject(ctx, store.Project{Name: "bad", RepoURL: repo, DefaultBranch: "main"})
	p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != store.Failed || !strings.Contains(p.Error, `.gitlab-ci.yml:2:3: job job: unknown keyword "scirpt"`) {
		t.Errorf("pipeline %s %q", p.Status, p.Error)
	}
}

func mustJobs(t *testing.T, s *Service, id int64) []store.Job {
	jobs, err := s.Store.ListJobs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func equal(a, b map[string]store.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConcurrentRetriesRunOnce: four retries of one job at once (a webhook,
// a button, auto-stop...) run the pipeline once.
func TestConcurrentRetriesRunOnce(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo ran, sleep 0.3]\n"})
	project, _ := s.Store.CreateProject(ctx, store.Project{Name: "once", RepoURL: repo, DefaultBranch: "main"})
	p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, p.ID)
	id := jobNamed(t, s, p.ID, "job").ID
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- s.Retry(ctx, id) }()
	}
	ok := 0
	for range 4 {
		if <-errs == nil {
			ok++
		}
	}
	waitFor(t, s, p.ID)
	if ok != 1 || len(mustJobs(t, s, p.ID)) != 2 {
		t.Errorf("%d retries accepted, %d job rows; want 1 and 2", ok, len(mustJobs(t, s, p.ID)))
	}
}

// TestRetriesOnTwoServersRunOnce: two servers sharing the database retry
// one job at the same moment; the pipeline runs once.
func TestRetriesOnTwoServersRunOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		a, b := newServiceAs(t, url, "a"), newServiceAs(t, url, "b")
		repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo ran, sleep 0.3]\n"})
		project, _ := a.Store.CreateProject(ctx, store.Project{Name: "once", RepoURL: repo, DefaultBranch: "main"})
		p, err := a.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, a, p.ID)
		id := jobNamed(t, a, p.ID, "job").ID
		errs := make(chan error, 4)
		for _, s := range []*Service{a, b, a, b} {
			go func() { errs <- s.Retry(ctx, id) }()
		}
		ok := 0
		for range 4 {
			if err := <-errs; err == nil {
				ok++
			} else if !errors.Is(err, ErrConflict) {
				t.Errorf("refused retry: %v; want ErrConflict", err)
			}
		}
		waitFor(t, a, p.ID)
		waitFor(t, b, p.ID)
		if ok != 1 || len(mustJobs(t, a, p.ID)) != 2 {
			t.Errorf("%d retries accepted, %d job rows; want 1 and 2", ok, len(mustJobs(t, a, p.ID)))
		}
		if j := jobNamed(t, a, p.ID, "job"); j.Status != store.Success || (j.Runner != "a" && j.Runner != "b") {
			t.Errorf("retried job = %s on runner %q; want success on a or b", j.Status, j.Runner)
		}
	})
}

// TestRestartOfAnotherServer: server B starting (Recover) on the database
// where server A runs a job leaves that job running, and it succeeds.
func TestRestartOfAnotherServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		a := newServiceAs(t, url, "a")
		gate := filepath.Join(t.TempDir(), "go-on")
		repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: ['while [ ! -f " + gate + " ]; do sleep 0.05; done', echo done]\n"})
		project, _ := a.Store.CreateProject(ctx, store.Project{Name: "long", RepoURL: repo, DefaultBranch: "main"})
		p, err := a.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for jobNamed(t, a, p.ID, "job").Status != store.Running {
			if time.Now().After(deadline) {
				t.Fatal("the job did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}

		b := newServiceAs(t, url, "b")
		if err := b.Recover(ctx, time.Hour, "the server stopped"); err != nil {
			t.Fatal(err)
		}
		if j := jobNamed(t, a, p.ID, "job"); j.Status != store.Running {
			t.Fatalf("A's job after B's start = %s (%s); want running", j.Status, j.Error)
		}
		os.WriteFile(gate, nil, 0o644)
		if p = waitFor(t, a, p.ID); p.Status != store.Success {
			t.Errorf("A's pipeline = %s %q; want success", p.Status, p.Error)
		}
		if j := jobNamed(t, a, p.ID, "job"); j.Runner != "a" {
			t.Errorf("job ran on %q; want a", j.Runner)
		}
	})
}

// TestMaskedAcrossACutLine: a secret that straddles the engine's cut of a
// very long line is still masked.
func TestMaskedAcrossACutLine(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
job:
  script:
    - 'printf "%16380s" "" | tr " " x; echo "$DEPLOY_TOKEN"'
`})
	project, _ := s.Store.CreateProject(ctx, store.Project{Name: "long", RepoURL: repo, DefaultBranch: "main"})
	s.Store.SetVariable(ctx, store.Variable{ProjectID: project.ID, Name: "DEPLOY_TOKEN", Value: "straddling-secret-42", Masked: true})
	p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, p.ID)
	lines, _ := s.Logs.Read(p.ID, jobNamed(t, s, p.ID, "job").ID)
	log := strings.Join(lines, "\n")
	if strings.Contains(log, "straddling") || strings.Contains(log, "secret-42") || !strings.Contains(log, strings.Repeat("x", 16380)+"[MASKED]") {
		t.Errorf("the secret across the cut was not masked (%d bytes of log)", len(log))
	}
}

// TestNoRunStartsAfterShutdown: a pipeline created while the server shuts
// down (a webhook that arrives then) does not run on past Shutdown: it
// fails at once, saying why, and nothing runs it.
func TestNoRunStartsAfterShutdown(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [sleep 60]\n"})
	project, err := s.Store.CreateProject(ctx, store.Project{Name: "late", RepoURL: repo, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Shutdown: %v; want ErrClosed", err)
	}
	if s.Running(p.ID) {
		t.Errorf("pipeline %d runs after Shutdown", p.ID)
	}
	got, err := s.Store.GetPipeline(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.Failed || !strings.Contains(got.Error, "shutting down") {
		t.Errorf("pipeline %s %q; want failed, shutting down", got.Status, got.Error)
	}
	if j := jobNamed(t, s, p.ID, "job"); j.Status != store.Failed {
		t.Errorf("job %s; want failed", j.Status)
	}
}

func TestCancelOnceAndBeforeTheStart(t *testing.T) {
	ctx := context.Background()
	s := newService(t, storetest.SQLiteURL(t))
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [sleep 60]\n"})
	project, err := s.Store.CreateProject(ctx, store.Project{Name: "cancel", RepoURL: repo, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Create(ctx, project, Trigger{Source: "push", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cancel(p.ID) {
		t.Fatal("Cancel of a running pipeline = false")
	}
	if s.Cancel(p.ID) {
		t.Error("a second Cancel while the run winds down = true; want false (it was canceled already)")
	}
	if got := waitFor(t, s, p.ID); got.Status != store.Canceled {
		t.Errorf("pipeline %s (%s); want canceled", got.Status, got.Error)
	}

	// Claimed by a retry but not started yet: the cancel holds, and the
	// run ends as soon as it starts.
	if ok, _ := s.claim(p.ID); !ok {
		t.Fatal("claim failed")
	}
	if !s.Cancel(p.ID) {
		t.Error("Cancel of a claimed pipeline = false")
	}
	repo2, err := s.RepoAt(ctx, project, p.SHA)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.plan(ctx, project, repo2, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.start(project, p, repo2, plan, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	// Canceled at its start, the run ends long before its sleep 60 would.
	waitFor(t, s, p.ID)
}
