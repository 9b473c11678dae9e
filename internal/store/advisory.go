package store

import (
	"context"
	"fmt"
)

// Keys of the work that one server of a database does at a time.
const (
	// LockRegistryCleanup is held while a server applies the registry's
	// cleanup policy and collects its garbage.
	LockRegistryCleanup int64 = 0x736c702d636c6e // "slp-cln"
)

// TryExclusive runs fn unless another server of the database runs the
// work of key now (PostgreSQL's advisory lock, which ends with the
// session, so a killed server does not hold it); ran says whether fn ran.
// On SQLite, one server per database, fn always runs.
func (s *Store) TryExclusive(ctx context.Context, key int64, fn func()) (ran bool, err error) {
	if s.d.name != postgresDialect.name {
		fn()
		return true, nil
	}
	// One connection: an advisory lock belongs to its session.
	c, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: lock %#x: %w", key, err)
	}
	defer c.Close()
	var got bool
	if err := c.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("store: lock %#x: %w", key, err)
	}
	if !got {
		return false, nil
	}
	defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) //nolint:errcheck // the session's end unlocks too
	fn()
	return true, nil
}
