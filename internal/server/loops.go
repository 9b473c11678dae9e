package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/store"
)

// every runs pass at once when now is set, then every d, in a goroutine of
// its own until ctx ends; Close waits for it. Each server loop is such a
// pass: level-based, it looks at the database as it is, so any server may
// run it at any moment.
func (s *Server) every(ctx context.Context, d time.Duration, now bool, pass func(context.Context)) {
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		if now {
			pass(ctx)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pass(ctx)
		}
	}()
}

// liveness keeps this server's heartbeat fresh, cancels the pipelines it
// runs that were asked to be canceled (of any server), and fails the work
// of servers whose heartbeat is older than the grace period (retrying what
// asks for it).
func (s *Server) liveness(ctx context.Context) {
	if s.heartbeat(ctx) {
		// Our work was failed, maybe retried elsewhere: running it on
		// would run it twice.
		s.log.Error("other servers took this server for dead and failed its jobs; canceling its pipelines "+
			"(no heartbeat for longer than heartbeat_grace, or another server uses the same server_name)",
			"server", s.cfg.ServerName, "grace", s.cfg.HeartbeatGrace)
		s.Pipes.CancelAll()
	}
	s.cancelRequested(ctx)
	s.requeueDeliveries(ctx)
	reason := fmt.Sprintf("the Slipway server running the job stopped (no heartbeat for %s)", s.cfg.HeartbeatGrace)
	if err := s.Pipes.Reap(ctx, s.cfg.HeartbeatGrace, reason); err != nil && ctx.Err() == nil {
		s.log.Error("failing the work of gone servers", "err", err)
	}
}

// heartbeat tells the other servers this one lives; lost is true when they
// had taken it for dead.
func (s *Server) heartbeat(ctx context.Context) (lost bool) {
	lost, err := s.Store.Heartbeat(ctx, s.Pipes.Server)
	if err != nil && ctx.Err() == nil {
		s.log.Error("heartbeat", "err", err)
	}
	return lost
}

// cancelRequested cancels the pipelines this server runs whose cancel was
// recorded, by this server or by another one (the API's 202 Accepted).
func (s *Server) cancelRequested(ctx context.Context) {
	ids, err := s.Store.CancelRequested(ctx, s.Pipes.Server.ID)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("looking for pipelines to cancel", "err", err)
		}
		return
	}
	for _, id := range ids {
		if s.Pipes.Cancel(id) {
			s.log.Info("canceling pipeline as asked", "pipeline", id)
		}
	}
}

// fireSchedules fires due schedules (the nightly run). Claiming is atomic
// in the store, so several servers never fire one schedule twice.
func (s *Server) fireSchedules(ctx context.Context) {
	due, err := s.Store.ClaimDueSchedules(ctx, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("claiming schedules", "err", err)
		}
		return
	}
	for _, sc := range due {
		project, err := s.Store.GetProject(ctx, sc.ProjectID)
		if err != nil {
			s.log.Error("schedule's project", "schedule", sc.ID, "err", err)
			continue
		}
		p, err := s.runSchedule(ctx, project, sc)
		if err != nil {
			s.log.Warn("schedule created no pipeline", "schedule", sc.ID, "err", err)
			continue
		}
		s.log.Info("schedule fired", "schedule", sc.ID, "project", project.Name, "pipeline", p.ID)
	}
}

// pollProjects is the fallback for forges that cannot send webhooks: it
// fetches each project that asks for polling and starts a push pipeline for
// every branch whose head moved since the last look.
func (s *Server) pollProjects(ctx context.Context) {
	projects, err := s.Store.ListProjects(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("listing projects to poll", "err", err)
		}
		return
	}
	for _, p := range projects {
		if p.Poll {
			s.poll(ctx, p)
		}
	}
}

// poll compares the branch heads of one project with what it saw before.
// The first look only records them.
func (s *Server) poll(ctx context.Context, p store.Project) {
	repo, err := s.Pipes.Sync(ctx, p)
	if err != nil {
		s.log.Warn("polling", "project", p.Name, "err", err)
		return
	}
	refs, err := repo.Refs()
	if err != nil {
		return
	}
	prevAny, seen := s.polled.Load(p.ID)
	s.polled.Store(p.ID, refs.Branches)
	if !seen {
		return
	}
	prev := prevAny.(map[string]string)
	for branch, sha := range refs.Branches {
		if prev[branch] == sha {
			continue
		}
		_, err := s.Pipes.Create(ctx, p, pipelines.Trigger{Source: "push", Ref: branch, SHA: sha, BeforeSHA: prev[branch]})
		if err != nil && !errors.Is(err, pipelines.ErrNoPipeline) {
			s.log.Warn("polled pipeline", "project", p.Name, "branch", branch, "err", err)
		}
	}
}

// isTag says whether ref names a tag (and no branch) of the project.
func (s *Server) isTag(ctx context.Context, p store.Project, ref string) bool {
	repo, err := s.Pipes.Sync(ctx, p)
	if err != nil {
		return false
	}
	refs, err := repo.Refs()
	if err != nil {
		return false
	}
	_, tag := refs.Tags[ref]
	_, branch := refs.Branches[ref]
	return tag && !branch
}
