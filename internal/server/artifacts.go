package server

import (
	"context"
	"time"

	"github.com/slipway-cd/slipway/internal/engine"
)

// artifactExpiryLoop removes the job artifacts whose expire_in has passed.
// A retried job that needs them then fails with missing_dependency_failure.
// It also removes the UI sessions that have ended: both are things past
// their date, and a lookup refuses an ended session anyway, so the pace
// of this loop only bounds how long the rows linger.
func (s *Server) artifactExpiryLoop(ctx context.Context) {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.ArtifactExpiryTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.expireUISessions(ctx)
		removed, err := engine.ExpireArtifacts(s.Pipes.WorkDir, time.Now())
		if err != nil {
			s.log.Error("expiring artifacts", "err", err)
		}
		if len(removed) > 0 {
			s.log.Info("expired artifacts removed", "jobs", len(removed))
		}
	}
}
