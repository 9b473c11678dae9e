package store

import (
	"context"
	"fmt"
	"time"
)

// CleanupRule is the schedule of one rule of a server's registry cleanup
// policy: when it last ran, what it deleted then, and when it runs next.
type CleanupRule struct {
	Server       string // the server_name whose registry it cleans
	Repositories string // the rule's glob, which names it
	Cadence      time.Duration
	LastRunAt    *time.Time // nil: never ran
	NextRunAt    time.Time
	LastDeleted  int // tags deleted by the last run
}

// CleanupRules returns the schedules of a server's cleanup rules.
func (s *Store) CleanupRules(ctx context.Context, server string) ([]CleanupRule, error) {
	rows, err := s.conn().query(ctx, `SELECT server_name, repositories, cadence_ns, last_run_at, next_run_at, last_deleted
		FROM registry_cleanup_rules WHERE server_name = ? ORDER BY repositories`, server)
	if err != nil {
		return nil, fmt.Errorf("store: cleanup rules: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (CleanupRule, error) {
		var c CleanupRule
		err := r.Scan(&c.Server, &c.Repositories, &c.Cadence, nullTimeCol{&c.LastRunAt}, timeCol{&c.NextRunAt}, &c.LastDeleted)
		return c, err
	})
}

// SaveCleanupRule creates or replaces the schedule of one cleanup rule.
func (s *Store) SaveCleanupRule(ctx context.Context, c CleanupRule) error {
	_, err := s.conn().exec(ctx, `INSERT INTO registry_cleanup_rules (server_name, repositories, cadence_ns, last_run_at, next_run_at, last_deleted)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (server_name, repositories) DO UPDATE SET cadence_ns = excluded.cadence_ns, last_run_at = excluded.last_run_at,
			next_run_at = excluded.next_run_at, last_deleted = excluded.last_deleted`,
		c.Server, c.Repositories, int64(c.Cadence), c.LastRunAt, c.NextRunAt, c.LastDeleted)
	if err != nil {
		return fmt.Errorf("store: save cleanup rule %q: %w", c.Repositories, err)
	}
	return nil
}
