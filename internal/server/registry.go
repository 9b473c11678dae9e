package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
)

// openRegistry opens the embedded registry under the data folder and its
// cleanup policy.
func (s *Server) openRegistry(ctx context.Context) error {
	rc := s.cfg.Registry
	auth, err := registry.LoadAuth(rc.Htpasswd, rc.Tokens)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if auth != nil {
		auth.Tokens = jobTokens{s: s, file: auth.Tokens}
	}
	if rc.CleanupPolicy != "" {
		if s.cleanup, err = cleanup.LoadPolicy(rc.CleanupPolicy); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
	}
	s.Images, err = registry.New(ctx, registry.Config{DataDir: filepath.Join(s.cfg.DataDir, "registry"), Auth: auth, Logger: s.log})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}

// runCleanup applies the registry's cleanup policy, on its schedule or when
// asked through the API. The garbage collection it ends with is safe while
// the registry serves (docs/registry.md).
func (s *Server) runCleanup(ctx context.Context) (cleanup.Report, error) {
	rep, err := cleanup.Run(ctx, s.Images, s.cleanup, false)
	if err != nil {
		s.log.Error("registry cleanup", "err", err)
		return rep, err
	}
	freed := int64(0)
	if rep.GC != nil {
		freed = rep.GC.BytesFreed
	}
	s.log.Info("registry cleanup", "tags_deleted", len(rep.Deleted()), "bytes_freed", freed)
	return rep, nil
}

// cleanupRegistry runs the cleanup policy now (?dry_run=true only reports).
func (s *Server) cleanupRegistry(r *http.Request) (any, error) {
	if s.cleanup == nil {
		return nil, badRequest("no registry.cleanup_policy is configured")
	}
	if r.URL.Query().Get("dry_run") == "true" {
		return cleanup.Run(r.Context(), s.Images, s.cleanup, true)
	}
	return s.runCleanup(r.Context())
}
