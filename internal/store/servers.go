package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Server is one `slipway serve` process sharing the database. Its row lives
// while it heartbeats; pipelines and jobs record the ID of the process that
// runs them, so that only the work of servers that are gone is failed.
type Server struct {
	ID int64 `json:"id"`
	// Name is stable across restarts of one server (its server_name): a
	// process that starts knows the rows of its name as its own past.
	Name      string    `json:"name"`
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"`
	// Host and PID say which process the row is.
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

const serverCols = "id, name, started_at, seen_at, host, pid"

func scanServer(r interface{ Scan(...any) error }) (Server, error) {
	var s Server
	err := r.Scan(&s.ID, &s.Name, timeCol{&s.StartedAt}, timeCol{&s.SeenAt}, &s.Host, &s.PID)
	return s, err
}

// dbNow is the database's clock on PostgreSQL, so that servers on machines
// whose clocks differ compare heartbeats on one clock; SQLite has one machine.
func (s *Store) dbNow(ctx context.Context) (time.Time, error) {
	if s.d.name != postgresDialect.name {
		return now(), nil
	}
	var t time.Time
	if err := s.db.QueryRowContext(ctx, "SELECT CURRENT_TIMESTAMP").Scan(&t); err != nil {
		return time.Time{}, err
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// RegisterServer adds the row of a starting server process named name,
// running as process pid on host.
func (s *Store) RegisterServer(ctx context.Context, name, host string, pid int) (Server, error) {
	if name == "" {
		return Server{}, invalid("server.name", "must not be empty")
	}
	t, err := s.dbNow(ctx)
	if err != nil {
		return Server{}, fmt.Errorf("store: register server %s: %w", name, err)
	}
	srv, err := scanServer(s.conn().row(ctx, "INSERT INTO servers (name, started_at, seen_at, host, pid) VALUES (?, ?, ?, ?, ?) RETURNING "+serverCols,
		name, t, t, host, pid))
	if err != nil {
		return Server{}, fmt.Errorf("store: register server %s: %w", name, err)
	}
	return srv, nil
}

// Heartbeat tells the other servers that srv is alive. When srv's row is
// gone, another server took it for dead and failed its work: the row is
// added again and lost is true, so that srv stops what it still runs.
func (s *Store) Heartbeat(ctx context.Context, srv Server) (lost bool, err error) {
	t, err := s.dbNow(ctx)
	if err != nil {
		return false, fmt.Errorf("store: heartbeat of server %d: %w", srv.ID, err)
	}
	res, err := s.conn().exec(ctx, "UPDATE servers SET seen_at = ? WHERE id = ?", t, srv.ID)
	if err != nil {
		return false, fmt.Errorf("store: heartbeat of server %d: %w", srv.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return false, err
	}
	if _, err := s.conn().exec(ctx, "INSERT INTO servers (id, name, started_at, seen_at, host, pid) VALUES (?, ?, ?, ?, ?, ?)",
		srv.ID, srv.Name, srv.StartedAt, t, srv.Host, srv.PID); err != nil {
		return true, fmt.Errorf("store: register server %d again: %w", srv.ID, err)
	}
	return true, nil
}

// ListServers returns the servers alive or not yet reaped, oldest first.
func (s *Store) ListServers(ctx context.Context) ([]Server, error) {
	rows, err := s.conn().query(ctx, "SELECT "+serverCols+" FROM servers ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list servers: %w", err)
	}
	return collect(rows, scanServer)
}

// Reap says whose work FailOrphanedWork fails.
type Reap struct {
	// Self is the calling server; its row and work are never reaped.
	Self Server
	// Grace is how long a server may go without a heartbeat before it
	// counts as gone.
	Grace time.Duration
	// Restart is set once, when Self starts: its earlier processes (rows of
	// the same name) are gone whatever their heartbeat says, and so is the
	// work recorded before servers were (no server).
	Restart bool
	// Reason is the failed jobs' and pipelines' error.
	Reason string
}

// Reaped is what FailOrphanedWork failed.
type Reaped struct {
	// Servers are the rows removed: processes that are gone.
	Servers []Server
	// Jobs were running: failed with runner_system_failure, to be retried
	// where their retry:when allows it.
	Jobs []Job
	// Unstarted are the pipelines a gone server had created but not
	// started, failed with their jobs.
	Unstarted []int64
}

// FailOrphanedWork removes the rows of servers that are gone (see Reap)
// and fails their work: each running job becomes failed
// (runner_system_failure, with the reason as its error), each pending or
// running pipeline failed with the reason and its jobs that had not started
// skipped, and each pipeline created but never started failed with its jobs.
// Work of live servers is left alone. It is level-based: calling it again,
// from any server, at any time, fails nothing twice.
func (s *Store) FailOrphanedWork(ctx context.Context, r Reap) (Reaped, error) {
	var out Reaped
	cutoff, err := s.dbNow(ctx)
	if err != nil {
		return out, fmt.Errorf("store: fail orphaned work: %w", err)
	}
	cutoff = cutoff.Add(-r.Grace)
	// A server is gone when its row is: deleting first means a heartbeat
	// that comes later finds its row missing (Heartbeat's lost), never its
	// work failed behind a row that looks alive.
	gone := []string{"seen_at < ?"}
	args := []any{r.Self.ID, cutoff}
	if r.Restart {
		gone = append(gone, "name = ?")
		args = append(args, r.Self.Name)
	}
	owner := "(server_id NOT IN (SELECT id FROM servers)"
	if r.Restart {
		owner += " OR server_id IS NULL"
	}
	owner += ")"
	err = s.inTx(ctx, func(c conn) error {
		t := now()
		rows, err := c.query(ctx, "DELETE FROM servers WHERE id <> ? AND ("+strings.Join(gone, " OR ")+") RETURNING "+serverCols, args...)
		if err != nil {
			return err
		}
		if out.Servers, err = collect(rows, scanServer); err != nil {
			return err
		}
		rows, err = c.query(ctx, `UPDATE jobs SET status = 'failed', failure_reason = ?, error = ?, finished_at = ?
			WHERE status = 'running' AND `+owner+` RETURNING `+jobCols, RunnerSystemFailure, r.Reason, t)
		if err != nil {
			return err
		}
		if out.Jobs, err = collect(rows, scanJob); err != nil {
			return err
		}
		orphans := "SELECT id FROM pipelines WHERE status IN ('pending', 'running') AND " + owner
		// Jobs that waited in an interrupted pipeline will never run.
		if _, err := c.exec(ctx, `UPDATE jobs SET status = 'skipped', finished_at = ?
			WHERE status IN ('created', 'pending') AND pipeline_id IN (`+orphans+")", t); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE pipelines SET status = 'failed', error = ?, finished_at = ?
			WHERE status IN ('pending', 'running') AND `+owner, r.Reason, t); err != nil {
			return err
		}
		// Pipelines that never started: their jobs fail as a system
		// failure, so that they can be retried once a server runs again.
		rows, err = c.query(ctx, `UPDATE pipelines SET status = 'failed', error = ?, finished_at = ?
			WHERE status = 'created' AND `+owner+" RETURNING id", r.Reason+" (before the pipeline started)", t)
		if err != nil {
			return err
		}
		if out.Unstarted, err = collect(rows, func(r interface{ Scan(...any) error }) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		}); err != nil {
			return err
		}
		for _, id := range out.Unstarted {
			if _, err := c.exec(ctx, `UPDATE jobs SET status = 'failed', failure_reason = ?, error = ?, finished_at = ?,
				started_at = COALESCE(started_at, ?)
				WHERE pipeline_id = ? AND status NOT IN `+finishedSQL+" AND status <> 'manual'",
				RunnerSystemFailure, r.Reason+" (before the pipeline started)", t, t, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Reaped{}, fmt.Errorf("store: fail orphaned work: %w", err)
	}
	return out, nil
}

// UnregisterServer removes srv's row when it stops cleanly, so that a
// server starting under its name later need not wonder whether it lives.
func (s *Store) UnregisterServer(ctx context.Context, srv Server) error {
	if _, err := s.conn().exec(ctx, "DELETE FROM servers WHERE id = ?", srv.ID); err != nil {
		return fmt.Errorf("store: unregister server %d: %w", srv.ID, err)
	}
	return nil
}
