package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// open opens the store at url and closes it when t ends.
func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustProject(t *testing.T, s *store.Store, name string) store.Project {
	t.Helper()
	p, err := s.CreateProject(context.Background(), store.Project{Name: name, RepoURL: "file:///srv/" + name + ".git"})
	if err != nil {
		t.Fatalf("CreateProject(%s): %v", name, err)
	}
	return p
}

func mustPipeline(t *testing.T, s *store.Store, projectID int64, ref string) store.Pipeline {
	t.Helper()
	p, err := s.CreatePipeline(context.Background(), store.Pipeline{ProjectID: projectID, Source: store.SourcePush, Ref: ref, SHA: "0123abcd"})
	if err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	return p
}

func mustJob(t *testing.T, s *store.Store, pipelineID int64, name string) store.Job {
	t.Helper()
	j, err := s.CreateJob(context.Background(), store.Job{PipelineID: pipelineID, Name: name, Stage: "test"})
	if err != nil {
		t.Fatalf("CreateJob(%s): %v", name, err)
	}
	return j
}

// wantField checks that err is invalid input naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *store.FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("error = %v; want invalid input naming %s", err, field)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		v1, err := s.SchemaVersion(ctx)
		if err != nil || v1 < 1 {
			t.Fatalf("SchemaVersion after first Open = %d, %v; want >= 1", v1, err)
		}
		p := mustProject(t, s, "web")
		s.Close()
		s2 := open(t, url) // migrations run again: nothing to do, nothing lost
		v2, err := s2.SchemaVersion(ctx)
		if err != nil || v2 != v1 {
			t.Fatalf("SchemaVersion after second Open = %d, %v; want %d", v2, err, v1)
		}
		if got, err := s2.GetProject(ctx, p.ID); err != nil || got.Name != "web" {
			t.Fatalf("project after second Open = %+v, %v", got, err)
		}
	})
}

// Servers started together on one fresh database must all come up.
func TestConcurrentOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		const servers = 4
		var wg sync.WaitGroup
		errs := make([]error, servers)
		for i := range servers {
			wg.Go(func() {
				s, err := store.Open(context.Background(), url)
				if err == nil {
					_, err = s.CreateProject(context.Background(), store.Project{Name: fmt.Sprintf("p%d", i), RepoURL: "file:///x"})
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("server %d: %v", i, err)
			}
		}
		ps, err := open(t, url).ListProjects(context.Background())
		if err != nil || len(ps) != servers {
			t.Fatalf("ListProjects = %d projects, %v; want %d", len(ps), err, servers)
		}
	})
}

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"mysql://u:secret@db/x", "sqlite://", "/var/lib/slipway.db"} {
		_, err := store.Open(context.Background(), url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", url, err)
		}
	}
	_, err := store.Open(context.Background(), "postgres://slipway:hunter2@127.0.0.1:1/x?connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open(unreachable postgres) = %v; want an error without the password", err)
	}
}

func TestProjects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		p, err := s.CreateProject(ctx, store.Project{Name: "web", RepoURL: "https://git.example/web.git", CredentialsRef: "env:GIT_TOKEN"})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == 0 || p.DefaultBranch != "main" || p.PipelineFile != ".gitlab-ci.yml" || p.CreatedAt.Location() != time.UTC {
			t.Errorf("created project = %+v; want an ID, defaults and a UTC time", p)
		}
		if _, err := s.CreateProject(ctx, store.Project{Name: "web", RepoURL: "file:///other"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second project called web: %v; want ErrConflict", err)
		}
		_, err = s.CreateProject(ctx, store.Project{Name: "", RepoURL: "file:///x"})
		wantField(t, err, "project.name")
		_, err = s.CreateProject(ctx, store.Project{Name: "api", RepoURL: "https://bot:glpat-123@git.example/api.git"})
		wantField(t, err, "project.repo_url")

		got, err := s.GetProject(ctx, p.ID)
		if err != nil || got != p {
			t.Errorf("GetProject = %+v, %v; want %+v", got, err, p)
		}
		if got, err := s.GetProjectByName(ctx, "web"); err != nil || got.ID != p.ID {
			t.Errorf("GetProjectByName = %+v, %v", got, err)
		}
		if _, err := s.GetProject(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetProject(9999): %v; want ErrNotFound", err)
		}

		p.DefaultBranch, p.PipelineFile = "master", "ci/pipeline.yml"
		if got, err := s.UpdateProject(ctx, p); err != nil || got != p {
			t.Errorf("UpdateProject = %+v, %v; want %+v", got, err, p)
		}
		mustProject(t, s, "api")
		ps, err := s.ListProjects(ctx)
		if err != nil || len(ps) != 2 || ps[0].Name != "api" || ps[1].Name != "web" {
			t.Errorf("ListProjects = %+v, %v; want api, web", ps, err)
		}

		// The webhook secret is kept, and never part of a Project.
		if err := s.SetWebhookSecret(ctx, p.ID, "whsec-s3cr3t"); err != nil {
			t.Fatal(err)
		}
		if secret, err := s.WebhookSecret(ctx, p.ID); err != nil || secret != "whsec-s3cr3t" {
			t.Errorf("WebhookSecret = %q, %v", secret, err)
		}
		got, _ = s.GetProject(ctx, p.ID)
		b, _ := json.Marshal(got)
		if strings.Contains(string(b), "whsec-s3cr3t") {
			t.Errorf("project JSON shows the webhook secret: %s", b)
		}

		// Deleting a project deletes what belongs to it.
		pl := mustPipeline(t, s, p.ID, "main")
		if err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPipeline(ctx, pl.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pipeline of a deleted project: %v; want ErrNotFound", err)
		}
		if err := s.DeleteProject(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting again: %v; want ErrNotFound", err)
		}
	})
}

func TestVariables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		p := mustProject(t, s, "web")
		for _, v := range []store.Variable{
			{ProjectID: p.ID, Name: "DEPLOY_TOKEN", Value: "tok-very-secret-1", Masked: true, Protected: true},
			{ProjectID: p.ID, Name: "REGION", Value: "eu-west"},
			{ProjectID: p.ID, Name: "REGION", Value: "us-east"}, // replaces the one above
		} {
			if _, err := s.SetVariable(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := s.ListVariables(ctx, p.ID)
		if err != nil || len(vs) != 2 {
			t.Fatalf("ListVariables = %+v, %v; want 2", vs, err)
		}
		// Job execution gets the real values...
		if vs[0].Name != "DEPLOY_TOKEN" || vs[0].Value != "tok-very-secret-1" || !vs[0].Masked || !vs[0].Protected || vs[1].Value != "us-east" {
			t.Errorf("ListVariables = %+v", vs)
		}
		if m := vs.Map(true); m["DEPLOY_TOKEN"] != "tok-very-secret-1" || m["REGION"] != "us-east" {
			t.Errorf("Map(protected ref) = %v", m)
		}
		if m := vs.Map(false); len(m) != 1 || m["REGION"] != "us-east" {
			t.Errorf("Map(unprotected ref) = %v; want REGION only", m)
		}
		// ... logs are scrubbed of masked ones, and JSON never shows them.
		if got := vs.MaskedValues(); len(got) != 1 || got[0] != "tok-very-secret-1" {
			t.Errorf("MaskedValues = %q", got)
		}
		b, _ := json.Marshal(vs)
		if strings.Contains(string(b), "tok-very-secret-1") || !strings.Contains(string(b), store.MaskedValue) || !strings.Contains(string(b), "us-east") {
			t.Errorf("variables JSON = %s; want the masked value replaced, the others shown", b)
		}

		_, err = s.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "PIN", Value: "1234", Masked: true})
		wantField(t, err, "variable.value")
		_, err = s.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "9LIVES", Value: "x"})
		wantField(t, err, "variable.name")
		if _, err := s.SetVariable(ctx, store.Variable{ProjectID: 9999, Name: "X", Value: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("variable of a missing project: %v; want ErrNotFound", err)
		}

		if err := s.DeleteVariable(ctx, p.ID, "REGION"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteVariable(ctx, p.ID, "REGION"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting again: %v; want ErrNotFound", err)
		}
		if vs, _ := s.ListVariables(ctx, p.ID); len(vs) != 1 {
			t.Errorf("after delete: %+v", vs)
		}
	})
}

func TestPipelines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		web, api := mustProject(t, s, "web"), mustProject(t, s, "api")

		before := time.Now().UTC().Add(-time.Second)
		mr := &store.MergeRequest{IID: 7, Title: "Add login", SourceBranch: "login", TargetBranch: "main", Labels: []string{"ui"}}
		p1, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: web.ID, Source: store.SourceMergeRequest, Ref: "login",
			SHA: "aaaa", BeforeSHA: "9999", Variables: map[string]string{"DEPLOY": "no"}, MergeRequest: mr})
		if err != nil {
			t.Fatal(err)
		}
		if p1.Number != 1 || p1.Status != store.Created || p1.CreatedAt.Before(before) {
			t.Errorf("first pipeline = %+v; want number 1, created now", p1)
		}
		got, err := s.GetPipeline(ctx, p1.ID)
		if err != nil || got.MergeRequest == nil || got.MergeRequest.IID != 7 || got.MergeRequest.Labels[0] != "ui" ||
			got.Variables["DEPLOY"] != "no" || got.BeforeSHA != "9999" || !got.CreatedAt.Equal(p1.CreatedAt) {
			t.Errorf("GetPipeline = %+v, %v; want what was created", got, err)
		}
		p2 := mustPipeline(t, s, web.ID, "main")
		if p2.Number != 2 || p2.MergeRequest != nil {
			t.Errorf("second pipeline = %+v; want number 2 without a merge request", p2)
		}
		if a := mustPipeline(t, s, api.ID, "main"); a.Number != 1 {
			t.Errorf("first pipeline of another project has number %d; want 1", a.Number)
		}
		if got, err := s.GetPipelineByNumber(ctx, web.ID, 2); err != nil || got.ID != p2.ID {
			t.Errorf("GetPipelineByNumber(2) = %+v, %v", got, err)
		}
		if _, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: 9999, Source: "push", Ref: "main", SHA: "a"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pipeline of a missing project: %v; want ErrNotFound", err)
		}
		_, err = s.CreatePipeline(ctx, store.Pipeline{ProjectID: web.ID, Source: "push", SHA: "a"})
		wantField(t, err, "pipeline.ref")

		// Numbers stay unique when pipelines are created at once.
		var wg sync.WaitGroup
		numbers := make(chan int64, 10)
		for range 10 {
			wg.Go(func() {
				p, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: api.ID, Source: "push", Ref: "dev", SHA: "b"})
				if err != nil {
					t.Error(err)
					return
				}
				numbers <- p.Number
			})
		}
		wg.Wait()
		close(numbers)
		seen := map[int64]bool{}
		for n := range numbers {
			if seen[n] || n < 2 || n > 11 {
				t.Errorf("concurrent pipelines got number %d twice or out of 2..11", n)
			}
			seen[n] = true
		}

		// Status changes set the times.
		running, err := s.SetPipelineStatus(ctx, p2.ID, store.Running, "")
		if err != nil || running.Status != store.Running || running.StartedAt == nil || running.FinishedAt != nil {
			t.Fatalf("SetPipelineStatus(running) = %+v, %v", running, err)
		}
		failed, err := s.SetPipelineStatus(ctx, p2.ID, store.Failed, "job test failed")
		if err != nil || failed.FinishedAt == nil || !failed.StartedAt.Equal(*running.StartedAt) || failed.Error != "job test failed" {
			t.Fatalf("SetPipelineStatus(failed) = %+v, %v", failed, err)
		}
		if failed.FinishedAt.Before(*failed.StartedAt) {
			t.Errorf("finished %v before started %v", failed.FinishedAt, failed.StartedAt)
		}
		_, err = s.SetPipelineStatus(ctx, p2.ID, "exploded", "")
		wantField(t, err, "pipeline.status")
		if _, err := s.SetPipelineStatus(ctx, 9999, store.Running, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("status of a missing pipeline: %v; want ErrNotFound", err)
		}

		// Lists: filters, newest first, pages.
		list := func(f store.PipelineFilter) []int64 {
			t.Helper()
			ps, err := s.ListPipelines(ctx, f)
			if err != nil {
				t.Fatalf("ListPipelines(%+v): %v", f, err)
			}
			var ids []int64
			for _, p := range ps {
				ids = append(ids, p.ID)
			}
			return ids
		}
		if ids := list(store.PipelineFilter{ProjectID: web.ID}); fmt.Sprint(ids) != fmt.Sprint([]int64{p2.ID, p1.ID}) {
			t.Errorf("web pipelines = %v; want %v newest first", ids, []int64{p2.ID, p1.ID})
		}
		if ids := list(store.PipelineFilter{ProjectID: web.ID, Ref: "login"}); fmt.Sprint(ids) != fmt.Sprint([]int64{p1.ID}) {
			t.Errorf("web pipelines on login = %v", ids)
		}
		if ids := list(store.PipelineFilter{Status: store.Failed}); fmt.Sprint(ids) != fmt.Sprint([]int64{p2.ID}) {
			t.Errorf("failed pipelines = %v", ids)
		}
		if ids := list(store.PipelineFilter{Source: store.SourceMergeRequest}); fmt.Sprint(ids) != fmt.Sprint([]int64{p1.ID}) {
			t.Errorf("merge request pipelines = %v", ids)
		}
		all := list(store.PipelineFilter{ProjectID: api.ID})
		page2 := list(store.PipelineFilter{ProjectID: api.ID, Limit: 4, Offset: 4})
		if len(all) != 11 || fmt.Sprint(page2) != fmt.Sprint(all[4:8]) {
			t.Errorf("page 2 of 4 = %v; want %v of %v", page2, all[4:8], all)
		}
		_, err = s.ListPipelines(ctx, store.PipelineFilter{Limit: -1})
		wantField(t, err, "pipeline_filter.limit")
	})
}

func TestJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pl := mustPipeline(t, s, mustProject(t, s, "web").ID, "main")
		build := mustJob(t, s, pl.ID, "build")
		deploy, err := s.CreateJob(ctx, store.Job{PipelineID: pl.ID, Name: "deploy", Stage: "deploy", When: "manual", Status: store.Manual, AllowFailure: true})
		if err != nil {
			t.Fatal(err)
		}
		if build.Status != store.Created || build.Attempt != 1 || build.When != "on_success" {
			t.Errorf("created job = %+v; want created, attempt 1, on_success", build)
		}
		_, err = s.CreateJob(ctx, store.Job{PipelineID: pl.ID, Stage: "test"})
		wantField(t, err, "job.name")
		if _, err := s.CreateJob(ctx, store.Job{PipelineID: 9999, Name: "x", Stage: "test"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("job of a missing pipeline: %v; want ErrNotFound", err)
		}

		if j, err := s.SetJobStatus(ctx, build.ID, store.Pending); err != nil || j.Status != store.Pending || j.FinishedAt != nil {
			t.Errorf("SetJobStatus(pending) = %+v, %v", j, err)
		}
		started, err := s.StartJob(ctx, build.ID, store.JobStart{Server: store.Server{ID: 7, Name: "server-1"}, Executor: "shell", LogPath: "/data/logs/1.log"})
		if err != nil || started.Status != store.Running || started.StartedAt == nil || started.Runner != "server-1" ||
			started.ServerID != 7 || started.Executor != "shell" || started.LogPath != "/data/logs/1.log" {
			t.Fatalf("StartJob = %+v, %v", started, err)
		}
		time.Sleep(2 * time.Millisecond)
		one := 1
		done, err := s.FinishJob(ctx, build.ID, store.JobResult{Status: store.Failed, ExitCode: &one, FailureReason: store.ScriptFailure, Error: "exit status 1"})
		if err != nil || done.Status != store.Failed || done.ExitCode == nil || *done.ExitCode != 1 || done.FailureReason != store.ScriptFailure ||
			done.FinishedAt == nil || done.Duration < time.Millisecond {
			t.Fatalf("FinishJob = %+v, %v; want failed, exit 1, a duration", done, err)
		}
		// A finished job stays as it ended.
		if _, err := s.SetJobStatus(ctx, build.ID, store.Canceled); !errors.Is(err, store.ErrConflict) {
			t.Errorf("canceling a finished job: %v; want ErrConflict", err)
		}
		if _, err := s.StartJob(ctx, build.ID, store.JobStart{Server: store.Server{Name: "server-2"}, Executor: "shell", LogPath: "x"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("starting a finished job: %v; want ErrConflict", err)
		}
		if _, err := s.FinishJob(ctx, 9999, store.JobResult{Status: store.Success}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("finishing a missing job: %v; want ErrNotFound", err)
		}
		_, err = s.FinishJob(ctx, deploy.ID, store.JobResult{Status: store.Running})
		wantField(t, err, "job.status")

		// A retry is a new attempt; the list keeps both, in order.
		retry, err := s.CreateJob(ctx, store.Job{PipelineID: pl.ID, Name: "build", Stage: "test", Attempt: 2})
		if err != nil {
			t.Fatal(err)
		}
		js, err := s.ListJobs(ctx, pl.ID)
		if err != nil || len(js) != 3 || js[0].ID != build.ID || js[1].ID != deploy.ID || js[2].ID != retry.ID || js[2].Attempt != 2 {
			t.Errorf("ListJobs = %+v, %v", js, err)
		}
		if got, err := s.GetJob(ctx, deploy.ID); err != nil || got.Status != store.Manual || !got.AllowFailure || got.When != "manual" {
			t.Errorf("GetJob(deploy) = %+v, %v", got, err)
		}
	})
}

// The SQLite file lands where the URL says, its folder created, in WAL mode
// (operators back it up with its -wal file, see docs/store.md).
func TestSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "slipway.db")
	s := open(t, "sqlite://"+path)
	mustProject(t, s, "web")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log next to the database: %v", err)
	}
	if s.Dialect() != "sqlite" {
		t.Errorf("Dialect = %q", s.Dialect())
	}
}
