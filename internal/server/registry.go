package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

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

// cleanupPass runs the cleanup rules whose cadence is due, every
// cleanup_every and at start. As in GitLab, a rule first runs one cadence
// after the server first sees it, then one cadence after each run; the
// times are in the store, so restarts do not put them off.
func (s *Server) cleanupPass(ctx context.Context) {
	now := time.Now()
	sched, err := s.cleanupSchedule(ctx, now)
	if err != nil {
		s.log.Error("registry cleanup schedule", "err", err)
		return
	}
	due := map[*cleanup.Rule]bool{}
	for r, c := range sched {
		if !now.Before(c.NextRunAt) {
			due[r] = true
		}
	}
	if len(due) > 0 {
		s.runCleanup(ctx, func(r *cleanup.Rule) bool { return due[r] })
	}
}

// cleanupSchedule returns the stored schedule of each rule of the policy,
// storing one for the rules new to it or whose cadence changed.
func (s *Server) cleanupSchedule(ctx context.Context, now time.Time) (map[*cleanup.Rule]store.CleanupRule, error) {
	saved, err := s.Store.CleanupRules(ctx, s.cfg.ServerName)
	if err != nil {
		return nil, err
	}
	byGlob := map[string]store.CleanupRule{}
	for _, c := range saved {
		byGlob[c.Repositories] = c
	}
	out := map[*cleanup.Rule]store.CleanupRule{}
	for i := range s.cleanup.Rules {
		r := &s.cleanup.Rules[i]
		c, ok := byGlob[r.Repositories]
		if !ok || c.Cadence != r.Cadence {
			c = store.CleanupRule{Server: s.cfg.ServerName, Repositories: r.Repositories, Cadence: r.Cadence,
				LastRunAt: c.LastRunAt, NextRunAt: now.Add(r.Cadence), LastDeleted: c.LastDeleted}
			if err := s.Store.SaveCleanupRule(ctx, c); err != nil {
				return nil, err
			}
		}
		out[r] = c
	}
	return out, nil
}

// runCleanup applies the rules only selects (nil: all), on their schedule
// or when asked through the API, and records each one's run. The garbage
// collection it ends with is safe while the registry serves
// (docs/registry.md).
func (s *Server) runCleanup(ctx context.Context, only func(*cleanup.Rule) bool) (cleanup.Report, error) {
	started := time.Now()
	var rep cleanup.Report
	var err error
	// Servers sharing PostgreSQL may share the registry's storage too: one
	// cleanup at a time among them.
	ran, lockErr := s.Store.TryExclusive(ctx, store.LockRegistryCleanup, func() {
		rep, err = cleanup.RunRules(ctx, s.Images, s.cleanup, only, false)
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
	return rep, s.recordCleanup(ctx, rep, only, started)
}

// recordCleanup stores, for each rule that ran, when, how many tags it
// deleted and its next run.
func (s *Server) recordCleanup(ctx context.Context, rep cleanup.Report, only func(*cleanup.Rule) bool, ran time.Time) error {
	deleted := map[*cleanup.Rule]int{}
	for _, d := range rep.Deleted() {
		deleted[s.cleanup.RuleFor(d.Repository)]++
	}
	for i := range s.cleanup.Rules {
		r := &s.cleanup.Rules[i]
		if only != nil && !only(r) {
			continue
		}
		c := store.CleanupRule{Server: s.cfg.ServerName, Repositories: r.Repositories, Cadence: r.Cadence,
			LastRunAt: &ran, NextRunAt: ran.Add(r.Cadence), LastDeleted: deleted[r]}
		if err := s.Store.SaveCleanupRule(ctx, c); err != nil {
			s.log.Error("registry cleanup", "err", err)
			return err
		}
	}
	return nil
}

// cleanupRegistry runs the whole cleanup policy now (?dry_run=true only
// reports).
func (s *Server) cleanupRegistry(r *http.Request) (any, error) {
	if s.cleanup == nil {
		return nil, badRequest("no registry.cleanup_policy is configured")
	}
	if r.URL.Query().Get("dry_run") == "true" {
		return cleanup.Run(r.Context(), s.Images, s.cleanup, true)
	}
	return s.runCleanup(r.Context(), nil)
}

// cleanupRuleView is a rule of the cleanup policy and its schedule.
type cleanupRuleView struct {
	Repositories string     `json:"repositories"`
	Cadence      string     `json:"cadence"`
	LastRunAt    *time.Time `json:"last_run_at"`
	NextRunAt    time.Time  `json:"next_run_at"`
	LastDeleted  int        `json:"last_deleted"`
}

// cleanupStatus lists the policy's rules, in order, with their last and
// next runs.
func (s *Server) cleanupStatus(r *http.Request) (any, error) {
	if s.cleanup == nil {
		return nil, badRequest("no registry.cleanup_policy is configured")
	}
	sched, err := s.cleanupSchedule(r.Context(), time.Now())
	if err != nil {
		return nil, err
	}
	rules := []cleanupRuleView{}
	for i := range s.cleanup.Rules {
		c := sched[&s.cleanup.Rules[i]]
		rules = append(rules, cleanupRuleView{Repositories: c.Repositories, Cadence: c.Cadence.String(),
			LastRunAt: c.LastRunAt, NextRunAt: c.NextRunAt, LastDeleted: c.LastDeleted})
	}
	return map[string]any{"check_every": s.cfg.Registry.CleanupEvery.String(), "rules": rules}, nil
}
