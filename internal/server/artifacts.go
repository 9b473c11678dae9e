package server

import (
	"context"
	"time"

	"github.com/slipway-cd/slipway/internal/engine"
)

// artifactExpiryLoop removes the job artifacts whose expire_in has passed.
// A retried job that needs them then fails with missing_dependency_failure.
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
		removed, err := engine.ExpireArtifacts(s.Pipes.WorkDir, time.Now())
		if err != nil {
			s.log.Error("expiring artifacts", "err", err)
		}
		if len(removed) > 0 {
			s.log.Info("expired artifacts removed", "jobs", len(removed))
		}
	}
}
