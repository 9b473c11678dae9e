package server

import (
	"context"
	"time"

	"github.com/slipway-cd/slipway/internal/engine"
)

// expire removes what is past its date: the job artifacts whose expire_in
// has passed (a job that needs them afterwards fails with
// missing_dependency_failure) and the UI sessions that have ended (a lookup
// refuses those anyway; the pace only bounds how long their rows linger).
func (s *Server) expire(ctx context.Context) {
	s.expireUISessions(ctx)
	removed, err := engine.ExpireArtifacts(s.Pipes.WorkDir, time.Now())
	if err != nil {
		s.log.Error("expiring artifacts", "err", err)
	}
	if len(removed) > 0 {
		s.log.Info("expired artifacts removed", "jobs", len(removed))
	}
}
