package env

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// reviewPipeline deploys review/x, then waits in smoke for the file
// smokeGate; its manual stop job waits for the file stopGate.
func reviewPipeline(smokeGate, stopGate string) string {
	return `
stages: [review, verify]
deploy:
  stage: review
  script: [echo deployed]
  environment: {name: review/x, on_stop: stop}
stop:
  stage: review
  script: ["while [ ! -f ` + stopGate + ` ]; do sleep 0.05; done", echo stopped]
  environment: {name: review/x, action: stop}
  when: manual
  allow_failure: true
smoke:
  stage: verify
  script: ["while [ ! -f ` + smokeGate + ` ]; do sleep 0.05; done"]
`
}

// server is one server's pipelines service and environment manager, named
// name (a second one of the same name is that server restarted).
func server(t *testing.T, url, name string) (*pipelines.Service, *Manager) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := st.RegisterServer(ctx, name, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	pipes := &pipelines.Service{
		Store: st, Mirrors: &mirror.Mirrors{Dir: filepath.Join(data, "repos")}, Logs: &joblog.Store{Dir: filepath.Join(data, "logs")},
		WorkDir: filepath.Join(data, "work"), Executor: "shell", Concurrency: 2, Updates: &pipelines.Broker{}, Server: srv,
	}
	t.Cleanup(pipes.Shutdown)
	alloc, err := ports.New(filepath.Join(data, "ports"), ports.Range{Low: 18040, High: 18999})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := dockerhost.New(dockerhost.Options{Client: testenv.Docker(t), Ports: alloc})
	if err != nil {
		t.Fatal(err)
	}
	// An installation of its own: the Docker engine is shared.
	b := make([]byte, 6)
	rand.Read(b)
	return pipes, &Manager{Store: st, Deployer: dep, Pipes: pipes, Installation: "t" + hex.EncodeToString(b)}
}

// waitUntil polls cond; the pipelines run on their own.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func latestJob(t *testing.T, st *store.Store, pipelineID int64, name string) store.Job {
	t.Helper()
	jobs, err := st.ListJobs(context.Background(), pipelineID)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range pipelines.Latest(jobs) {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("pipeline %d has no job %s", pipelineID, name)
	return store.Job{}
}

func pipelineOver(st *store.Store, id int64) func() bool {
	return func() bool {
		p, err := st.GetPipeline(context.Background(), id)
		return err == nil && !p.Status.Active()
	}
}

func envState(t *testing.T, st *store.Store, id int64) store.Environment {
	t.Helper()
	e, err := st.GetEnvironment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// deployed runs the review pipeline on pipes until its deploy job
// succeeded and records the environment its deploy job deployed.
func deployed(t *testing.T, pipes *pipelines.Service, smokeGate, stopGate string) (store.Pipeline, store.Environment) {
	t.Helper()
	ctx := context.Background()
	st := pipes.Store
	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": reviewPipeline(smokeGate, stopGate)})
	project, err := st.CreateProject(ctx, store.Project{Name: "shop", RepoURL: repo, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipes.Create(ctx, project, pipelines.Trigger{Source: "push", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deploy job to succeed", func() bool { return latestJob(t, st, p.ID, "deploy").Status == store.Success })
	e, err := st.UpsertEnvironment(ctx, store.Environment{ProjectID: project.ID, Name: "review/x", OnStopJob: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.CreateDeployment(ctx, store.Deployment{EnvironmentID: e.ID, PipelineID: &p.ID, Ref: p.Ref, SHA: p.SHA, Status: store.DeployRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetDeploymentStatus(ctx, d.ID, store.DeploySuccess); err != nil {
		t.Fatal(err)
	}
	return p, envState(t, st, e.ID)
}

// TestStopWaitsForItsPipelineOnAnyServer: a stop asked while the deploy
// pipeline runs on server A is carried out by server B's controller once
// that pipeline ended, with nothing in A's memory to help: B plays the
// stop job, and its success stops the environment. Further passes change
// nothing.
func TestStopWaitsForItsPipelineOnAnyServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		dir := t.TempDir()
		smokeGate, stopGate := filepath.Join(dir, "smoke"), filepath.Join(dir, "stop")
		os.WriteFile(stopGate, nil, 0o644)
		a, ma := server(t, url, "a")
		p, e := deployed(t, a, smokeGate, stopGate)

		if latestJob(t, a.Store, p.ID, "smoke").Status.Finished() {
			t.Fatal("the smoke job ended before its gate opened")
		}
		if err := ma.Stop(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e = envState(t, a.Store, e.ID); e.State != store.EnvStopping || latestJob(t, a.Store, p.ID, "stop").Status != store.Manual {
			t.Fatalf("while its pipeline runs: environment %s, stop job %s; want stopping, manual", e.State, latestJob(t, a.Store, p.ID, "stop").Status)
		}
		os.WriteFile(smokeGate, nil, 0o644)
		waitUntil(t, "the deploy pipeline to end", pipelineOver(a.Store, p.ID))

		b, mb := server(t, url, "b")
		mb.ReconcileStops(ctx)
		stop := latestJob(t, b.Store, p.ID, "stop")
		if stop.Status == store.Manual {
			t.Fatalf("B's pass left the stop job manual")
		}
		waitUntil(t, "the stop job to end", pipelineOver(b.Store, p.ID))
		if stop = latestJob(t, b.Store, p.ID, "stop"); stop.Status != store.Success || stop.Runner != "b" {
			t.Fatalf("stop job %s on %q; want success on b", stop.Status, stop.Runner)
		}
		mb.ReconcileStops(ctx)
		if e = envState(t, b.Store, e.ID); e.State != store.EnvStopped {
			t.Fatalf("environment %s after its stop job succeeded; want stopped", e.State)
		}
		ma.ReconcileStops(ctx)
		mb.ReconcileStops(ctx)
		if again := latestJob(t, b.Store, p.ID, "stop"); again.ID != stop.ID || envState(t, b.Store, e.ID).State != store.EnvStopped {
			t.Errorf("more passes ran stop job %d again or moved the environment: %+v", again.ID, envState(t, b.Store, e.ID))
		}
	})
}

// TestLostStopJobEndsStopFailed: server A dies while the stop job runs; its
// restart fails the job (runner_system_failure) and the controller leaves
// the environment stop_failed, never stopping for ever. Stopping it again
// retries the stop job, which stops it.
func TestLostStopJobEndsStopFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		dir := t.TempDir()
		smokeGate, stopGate := filepath.Join(dir, "smoke"), filepath.Join(dir, "stop")
		os.WriteFile(smokeGate, nil, 0o644)
		a, ma := server(t, url, "a")
		p, e := deployed(t, a, smokeGate, stopGate)
		waitUntil(t, "the deploy pipeline to end", pipelineOver(a.Store, p.ID))

		if err := ma.Stop(ctx, e); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the stop job to run", func() bool { return latestJob(t, a.Store, p.ID, "stop").Status == store.Running })
		lost := latestJob(t, a.Store, p.ID, "stop")
		if e = envState(t, a.Store, e.ID); e.StopJobID == nil || *e.StopJobID != lost.ID {
			t.Fatalf("environment %+v; want its stop job attempt %d recorded", e, lost.ID)
		}

		// A restarts: the new process of the same name fails what the old
		// one ran (which, in this test, goes on in the background, unheard).
		a2, ma2 := server(t, url, "a")
		if err := a2.Recover(ctx, time.Hour, "the server stopped"); err != nil {
			t.Fatal(err)
		}
		if j := latestJob(t, a2.Store, p.ID, "stop"); j.Status != store.Failed || j.FailureReason != store.RunnerSystemFailure {
			t.Fatalf("stop job after the restart = %s (%s); want failed, runner_system_failure", j.Status, j.FailureReason)
		}
		ma2.ReconcileStops(ctx)
		if e = envState(t, a2.Store, e.ID); e.State != store.EnvStopFailed {
			t.Fatalf("environment %s after its stop job was lost; want stop_failed", e.State)
		}

		os.WriteFile(stopGate, nil, 0o644)
		if err := ma2.Stop(ctx, e); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the retried stop job to end", func() bool {
			j := latestJob(t, a2.Store, p.ID, "stop")
			return j.ID != lost.ID && j.Status.Finished()
		})
		if j := latestJob(t, a2.Store, p.ID, "stop"); j.Status != store.Success || j.Attempt != 2 {
			t.Fatalf("retried stop job = %s, attempt %d; want success, attempt 2", j.Status, j.Attempt)
		}
		waitUntil(t, "the pipeline to end", pipelineOver(a2.Store, p.ID))
		ma2.ReconcileStops(ctx)
		if e = envState(t, a2.Store, e.ID); e.State != store.EnvStopped {
			t.Fatalf("environment %s after stopping it again; want stopped", e.State)
		}
	})
}

// TestShutdownStartsNoStopJob: a server shutting down cancels the deploy
// pipeline a stop waits for; the end of that pipeline must not start the
// stop job on a server that is going away (it would run on, uncanceled,
// past Shutdown). The environment stays stopping, for the next pass of
// any server.
func TestShutdownStartsNoStopJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		dir := t.TempDir()
		smokeGate, stopGate := filepath.Join(dir, "smoke"), filepath.Join(dir, "stop")
		a, ma := server(t, url, "a")
		a.PipelineDone = ma.PipelineDone
		p, e := deployed(t, a, smokeGate, stopGate)
		if err := ma.Stop(ctx, e); err != nil {
			t.Fatal(err)
		}
		a.Shutdown()
		if a.Running(p.ID) {
			t.Errorf("pipeline %d runs after Shutdown returned", p.ID)
		}
		if j := latestJob(t, a.Store, p.ID, "stop"); j.Status == store.Running || j.Status == store.Pending {
			t.Errorf("stop job %d is %s after Shutdown; want it not started", j.ID, j.Status)
		}
		if e = envState(t, a.Store, e.ID); e.State != store.EnvStopping {
			t.Errorf("environment %s after Shutdown; want stopping, for the next server's pass", e.State)
		}
	})
}
