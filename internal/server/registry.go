package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
	"github.com/slipway-cd/slipway/internal/store"
)

// openRegistry opens the embedded registry under the data folder and its
// cleanup policy.
func (s *Server) openRegistry(ctx context.Context) error {
	rc := s.cfg.Registry
	auth, err := registry.LoadAuth(rc.Htpasswd, rc.Tokens)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if auth == nil && s.apiToken != "" {
		// A server that asks a token for its API asks one for pushes:
		// the API token or a job's; anyone may still pull.
		auth = &registry.Auth{AnonymousPull: true}
	}
	if auth != nil {
		auth.Tokens = jobTokens{s: s, file: auth.Tokens}
		auth.Admin = s.isAPIToken
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

// pullAuth signs the Docker engine's pulls of environments and GitOps
// apps from this server's registry in with the API token: docker sends
// credentials to a registry that asks for them, or fails.
func (s *Server) pullAuth(image string) string {
	host := s.Pipes.RegistryHost
	if s.Images == nil || s.apiToken == "" || host == "" || !strings.HasPrefix(image, host+"/") {
		return ""
	}
	js, _ := json.Marshal(map[string]string{"username": "slipway", "password": s.apiToken})
	return base64.URLEncoding.EncodeToString(js)
}

// runCleanup applies the registry's cleanup policy, on its schedule or when
// asked through the API. The garbage collection it ends with is safe while
// the registry serves (docs/registry.md).
func (s *Server) runCleanup(ctx context.Context) (cleanup.Report, error) {
	var rep cleanup.Report
	var err error
	// Servers sharing PostgreSQL may share the registry's storage too: one
	// cleanup at a time among them.
	ran, lockErr := s.Store.TryExclusive(ctx, store.LockRegistryCleanup, func() {
		rep, err = cleanup.Run(ctx, s.Images, s.cleanup, false)
	})
	if lockErr != nil {
		err = lockErr
	} else if !ran {
		s.log.Info("registry cleanup: another server runs it now")
		return rep, &httpError{http.StatusConflict, "another server is cleaning up the registry now; try again later"}
	}
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
