package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

const reason = "the server stopped while the job ran"

func mustServer(t *testing.T, s *store.Store, name string) store.Server {
	t.Helper()
	srv, err := s.RegisterServer(context.Background(), name, "test", 0)
	if err != nil {
		t.Fatalf("RegisterServer(%s): %v", name, err)
	}
	return srv
}

// work is what one server runs: a pipeline with a finished job, a running
// one and a waiting one, and a pipeline it created but had not started.
type work struct {
	pipeline, queued        store.Pipeline
	built, running, waiting store.Job
}

func runWork(t *testing.T, s *store.Store, projectID int64, srv store.Server) work {
	t.Helper()
	ctx := context.Background()
	var w work
	var err error
	if w.pipeline, err = s.CreatePipeline(ctx, store.Pipeline{ProjectID: projectID, Source: store.SourcePush, Ref: "main", SHA: "0123abcd", ServerID: srv.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRunStatus(ctx, srv.ID, w.pipeline.ID, store.Running, ""); err != nil {
		t.Fatal(err)
	}
	at := store.JobStart{Server: srv, Executor: "shell"}
	w.built = mustJob(t, s, w.pipeline.ID, "build")
	s.StartJob(ctx, w.built.ID, at)
	s.FinishJob(ctx, w.built.ID, store.JobResult{Status: store.Success})
	w.running = mustJob(t, s, w.pipeline.ID, "test")
	if _, err := s.StartJob(ctx, w.running.ID, at); err != nil {
		t.Fatal(err)
	}
	w.waiting = mustJob(t, s, w.pipeline.ID, "deploy")
	if w.queued, err = s.CreatePipeline(ctx, store.Pipeline{ProjectID: projectID, Source: store.SourcePush, Ref: "dev", SHA: "0123abcd", ServerID: srv.ID}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, s, w.queued.ID, "build")
	return w
}

// untouched checks that w still runs as it did.
func (w work) untouched(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	if j, _ := s.GetJob(ctx, w.running.ID); j.Status != store.Running {
		t.Errorf("running job of a live server became %s (%s)", j.Status, j.Error)
	}
	if j, _ := s.GetJob(ctx, w.waiting.ID); j.Status != store.Created {
		t.Errorf("waiting job of a live server became %s", j.Status)
	}
	if p, _ := s.GetPipeline(ctx, w.pipeline.ID); p.Status != store.Running {
		t.Errorf("running pipeline of a live server became %s (%s)", p.Status, p.Error)
	}
	if p, _ := s.GetPipeline(ctx, w.queued.ID); p.Status != store.Created {
		t.Errorf("created pipeline of a live server became %s (%s)", p.Status, p.Error)
	}
}

// failed checks that w was failed as a crash leaves it: the running job
// failed as a system failure, the waiting one skipped, the finished one
// kept, the unstarted pipeline failed with its jobs.
func (w work) failed(t *testing.T, s *store.Store, r store.Reaped) {
	t.Helper()
	ctx := context.Background()
	found := false
	for _, j := range r.Jobs {
		found = found || j.ID == w.running.ID
	}
	if !found {
		t.Errorf("reaped jobs %+v do not include the running job %d", r.Jobs, w.running.ID)
	}
	if j, _ := s.GetJob(ctx, w.running.ID); j.Status != store.Failed || j.FailureReason != store.RunnerSystemFailure || j.Error != reason || j.FinishedAt == nil {
		t.Errorf("running job = %+v; want failed, runner_system_failure, the reason", j)
	}
	if j, _ := s.GetJob(ctx, w.built.ID); j.Status != store.Success {
		t.Errorf("finished job became %s", j.Status)
	}
	if j, _ := s.GetJob(ctx, w.waiting.ID); j.Status != store.Skipped {
		t.Errorf("job waiting in the interrupted pipeline is %s; want skipped", j.Status)
	}
	if p, _ := s.GetPipeline(ctx, w.pipeline.ID); p.Status != store.Failed || p.Error != reason || p.FinishedAt == nil {
		t.Errorf("interrupted pipeline = %+v; want failed with the reason", p)
	}
	if p, _ := s.GetPipeline(ctx, w.queued.ID); p.Status != store.Failed || p.Error != reason+" (before the pipeline started)" {
		t.Errorf("unstarted pipeline = %s %q; want failed before it started", p.Status, p.Error)
	}
	jobs, _ := s.ListJobs(ctx, w.queued.ID)
	if len(jobs) != 1 || jobs[0].Status != store.Failed || jobs[0].FailureReason != store.RunnerSystemFailure {
		t.Errorf("jobs of the unstarted pipeline = %+v; want failed, retryable", jobs)
	}
	if !slices.Contains(r.Unstarted, w.queued.ID) {
		t.Errorf("reaped unstarted pipelines %v; want %d among them", r.Unstarted, w.queued.ID)
	}
}

// A server killed mid-pipeline finds, at its next start, its running job
// failed with a reason, its pipelines failed, and everything else intact;
// the same for work recorded before servers were.
func TestRestartFailsOwnWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		w := runWork(t, s, pid, mustServer(t, s, "a"))
		legacy := runWork(t, s, pid, store.Server{}) // no server recorded
		finished := mustPipeline(t, s, pid, "main")
		s.SetPipelineStatus(ctx, finished.ID, store.Success, "")

		s.Close()
		s = open(t, url) // the restart, at once: no heartbeat is old yet
		a := mustServer(t, s, "a")
		r, err := s.FailOrphanedWork(ctx, store.Reap{Self: a, Grace: time.Hour, Restart: true, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Jobs) != 2 || len(r.Servers) != 1 || r.Servers[0].Name != "a" || r.Servers[0].ID == a.ID {
			t.Errorf("reaped %+v; want both running jobs and the earlier process of a", r)
		}
		w.failed(t, s, r)
		legacy.failed(t, s, r)
		if p, _ := s.GetPipeline(ctx, finished.ID); p.Status != store.Success {
			t.Errorf("finished pipeline became %s", p.Status)
		}
		// Nothing left to fail, and the new process lives on.
		again, err := s.FailOrphanedWork(ctx, store.Reap{Self: a, Grace: time.Hour, Restart: true, Reason: reason})
		if err != nil || len(again.Jobs) != 0 || len(again.Unstarted) != 0 || len(again.Servers) != 0 {
			t.Errorf("second FailOrphanedWork = %+v, %v; want nothing", again, err)
		}
		if servers, _ := s.ListServers(ctx); len(servers) != 1 || servers[0].ID != a.ID {
			t.Errorf("servers = %+v; want only the new process of a", servers)
		}
	})
}

// Two servers share a database: B restarting, or reaping on its loop,
// leaves A's work alone while A heartbeats; A's work fails once A's
// heartbeat is older than the grace period, or when A itself restarts.
func TestOtherServersWorkSurvives(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		a := mustServer(t, s, "a")
		mustServer(t, s, "b")
		w := runWork(t, s, pid, a)

		b := mustServer(t, s, "b") // B restarts
		r, err := s.FailOrphanedWork(ctx, store.Reap{Self: b, Grace: time.Hour, Restart: true, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Servers) != 1 || r.Servers[0].Name != "b" {
			t.Errorf("B's restart reaped servers %+v; want only B's earlier process", r.Servers)
		}
		w.untouched(t, s)
		if lost, err := s.Heartbeat(ctx, a); err != nil || lost {
			t.Errorf("A's heartbeat = lost %v, %v; want kept", lost, err)
		}

		// B's loop, later: A still heartbeats within the grace period.
		legacy := runWork(t, s, pid, store.Server{}) // as if recorded before servers were
		r, err = s.FailOrphanedWork(ctx, store.Reap{Self: b, Grace: time.Hour, Reason: reason})
		if err != nil || len(r.Jobs)+len(r.Servers)+len(r.Unstarted) != 0 {
			t.Errorf("B's reaper = %+v, %v; want nothing", r, err)
		}
		w.untouched(t, s)
		legacy.untouched(t, s) // only a restart fails work no server owns

		// A stops heartbeating: once its last heartbeat is older than the
		// grace period, B's loop fails A's work.
		time.Sleep(20 * time.Millisecond)
		if _, err := s.Heartbeat(ctx, b); err != nil {
			t.Fatal(err)
		}
		r, err = s.FailOrphanedWork(ctx, store.Reap{Self: b, Grace: 10 * time.Millisecond, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Servers) != 1 || r.Servers[0].ID != a.ID {
			t.Errorf("reaped servers %+v; want A", r.Servers)
		}
		w.failed(t, s, r)
		legacy.untouched(t, s)
		if servers, _ := s.ListServers(ctx); len(servers) != 1 || servers[0].ID != b.ID {
			t.Errorf("servers = %+v; want B only", servers)
		}

		// A was only slow: its run cannot overwrite the failed pipeline, and
		// its next heartbeat tells it that its work is gone.
		if _, err := s.SetRunStatus(ctx, a.ID, w.pipeline.ID, store.Success, ""); !errors.Is(err, store.ErrConflict) {
			t.Errorf("A finishing its reaped pipeline: %v; want ErrConflict", err)
		}
		if _, err := s.FinishJob(ctx, w.running.ID, store.JobResult{Status: store.Success}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("A finishing its reaped job: %v; want ErrConflict", err)
		}
		if lost, err := s.Heartbeat(ctx, a); err != nil || !lost {
			t.Errorf("A's heartbeat after the reaping = lost %v, %v; want lost", lost, err)
		}
		if servers, _ := s.ListServers(ctx); len(servers) != 2 {
			t.Errorf("servers = %+v; want A back beside B", servers)
		}
	})
}

// A server restarting under its own name fails its earlier process's work
// at once, however fresh that process's heartbeat, and nobody else's.
func TestNextIncarnationFailsItsOwnWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		a, b := mustServer(t, s, "a"), mustServer(t, s, "b")
		wa, wb := runWork(t, s, pid, a), runWork(t, s, pid, b)

		a2 := mustServer(t, s, "a")
		r, err := s.FailOrphanedWork(ctx, store.Reap{Self: a2, Grace: time.Hour, Restart: true, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Jobs) != 1 {
			t.Errorf("reaped jobs %+v; want A's running job only", r.Jobs)
		}
		wa.failed(t, s, r)
		wb.untouched(t, s)
	})
}

// Retrying a finished pipeline claims it: of two servers, one wins; an
// active pipeline cannot be claimed; the claim names the server.
func TestClaimPipeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		a, b := mustServer(t, s, "a"), mustServer(t, s, "b")
		p, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: pid, Source: store.SourcePush, Ref: "main", SHA: "0123abcd", ServerID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimPipeline(ctx, b.ID, p.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("claiming a created pipeline: %v; want ErrConflict", err)
		}
		if _, err := s.SetRunStatus(ctx, b.ID, p.ID, store.Running, ""); !errors.Is(err, store.ErrConflict) {
			t.Errorf("B setting A's pipeline running: %v; want ErrConflict", err)
		}
		if _, err := s.SetRunStatus(ctx, a.ID, p.ID, store.Failed, "boom"); err != nil {
			t.Fatal(err)
		}
		won, err := s.ClaimPipeline(ctx, b.ID, p.ID)
		if err != nil || won.Status != store.Pending || won.ServerID != b.ID || won.Error != "" || won.FinishedAt != nil {
			t.Fatalf("B's claim = %+v, %v; want pending, run by B", won, err)
		}
		if _, err := s.ClaimPipeline(ctx, a.ID, p.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second claim: %v; want ErrConflict", err)
		}
		if _, err := s.ClaimPipeline(ctx, a.ID, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("claiming a missing pipeline: %v; want ErrNotFound", err)
		}
	})
}

// A cancel asked of any server is recorded on the pipeline; only the server
// that runs it finds it, until the pipeline is over; a retry forgets it; an
// ended pipeline cannot be asked to cancel.
func TestRequestCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		a, b := mustServer(t, s, "a"), mustServer(t, s, "b")
		p, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: pid, Source: store.SourcePush, Ref: "main", SHA: "0123abcd", ServerID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetRunStatus(ctx, a.ID, p.ID, store.Running, ""); err != nil {
			t.Fatal(err)
		}
		toCancel := func(srv store.Server) []int64 {
			t.Helper()
			ids, err := s.CancelRequested(ctx, srv.ID)
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		if ids := toCancel(a); len(ids) != 0 {
			t.Errorf("before any request, A has %v to cancel", ids)
		}
		asked, err := s.RequestCancel(ctx, p.ID)
		if err != nil || asked.CancelRequestedAt == nil || asked.Status != store.Running {
			t.Fatalf("RequestCancel = %+v, %v; want the request recorded, the pipeline still running", asked, err)
		}
		again, err := s.RequestCancel(ctx, p.ID)
		if err != nil || !again.CancelRequestedAt.Equal(*asked.CancelRequestedAt) {
			t.Errorf("asking again = %+v, %v; want the first request kept", again, err)
		}
		if ids := toCancel(a); !slices.Equal(ids, []int64{p.ID}) {
			t.Errorf("A's pipelines to cancel = %v; want [%d]", ids, p.ID)
		}
		if ids := toCancel(b); len(ids) != 0 {
			t.Errorf("B's pipelines to cancel = %v; want none (A runs it)", ids)
		}
		if _, err := s.SetRunStatus(ctx, a.ID, p.ID, store.Canceled, ""); err != nil {
			t.Fatal(err)
		}
		if ids := toCancel(a); len(ids) != 0 {
			t.Errorf("after the cancel, A has %v to cancel", ids)
		}
		if _, err := s.RequestCancel(ctx, p.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("cancel of a canceled pipeline: %v; want ErrConflict", err)
		}
		if _, err := s.RequestCancel(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cancel of a missing pipeline: %v; want ErrNotFound", err)
		}
		retried, err := s.ClaimPipeline(ctx, b.ID, p.ID)
		if err != nil || retried.CancelRequestedAt != nil {
			t.Fatalf("retry = %+v, %v; want the old cancel request forgotten", retried, err)
		}
		if ids := toCancel(b); len(ids) != 0 {
			t.Errorf("the retried run is to be canceled: %v", ids)
		}
	})
}
