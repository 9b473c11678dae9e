// Package store persists Slipway's state: projects, variables, pipelines,
// jobs, schedules, trigger tokens, environments and deployments.
//
// One Store type runs the same SQL on two databases: SQLite (the embedded
// default, a file in the data folder, pure Go) and PostgreSQL (for several
// servers sharing one database). Every difference between the two lives in
// dialect.go. Open applies the schema migrations before it returns.
//
// Errors: ErrNotFound, ErrConflict (a unique name taken, a finished job
// changed) and ErrInvalid (bad input, as a *FieldError naming the field) can
// be tested with errors.Is; the server maps them to 404, 409 and 400.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"               // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Store is Slipway's database. It is safe for concurrent use, and several
// Stores (several servers) may share one PostgreSQL database.
type Store struct {
	db *sql.DB
	d  dialect
}

var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique name is taken, or the row is in a state that
	// forbids the change.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is invalid; the error is a *FieldError.
	ErrInvalid = errors.New("invalid")
)

// FieldError is invalid input: Field is "entity.field" (e.g. "schedule.cron").
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Open connects to the database at rawURL and migrates its schema:
//
//	sqlite:///var/lib/slipway/slipway.db   (a file; its folder is created)
//	postgres://user:pass@host:5432/slipway?sslmode=disable
func Open(ctx context.Context, rawURL string) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		s, err = openSQLite(strings.TrimPrefix(rawURL, "sqlite://"))
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s, err = openPostgres(rawURL)
	default:
		return nil, fmt.Errorf("store: database URL %q: want sqlite:///path/to/slipway.db or a postgres:// URL", redactURL(rawURL))
	}
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", redactURL(rawURL), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// connect makes the first connection. SQLite answers the switch of a new
// database to WAL with SQLITE_BUSY at once, without waiting out the busy
// timeout, while another process is creating the same database: that
// connection is tried again until the busy timeout would have passed.
func (s *Store) connect(ctx context.Context) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		err := s.db.PingContext(ctx)
		var busy *sqlite.Error
		if err == nil || !errors.As(err, &busy) || busy.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sqliteBusyTimeout is how long a writer waits for another (the DSN's
// _busy_timeout).
const sqliteBusyTimeout = 10 * time.Second

func openSQLite(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: sqlite URL: want sqlite:///path/to/slipway.db, got path %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: data folder: %w", err)
	}
	// Created for the server's user alone: it holds the variables and
	// tokens. SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	// WAL lets readers run beside the writer; the busy timeout makes writers
	// wait for each other instead of failing; immediate transactions take the
	// write lock at BEGIN, so a transaction that reads then writes can never
	// fail half-way with SQLITE_BUSY.
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_busy_timeout=%d&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate",
		path, sqliteBusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{db: db, d: sqliteDialect}, nil
}

func openPostgres(rawURL string) (*Store, error) {
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", redactURL(rawURL), err)
	}
	// database/sql keeps 2 idle connections: a burst of requests (25
	// webhooks at once) would start and end a PostgreSQL backend each,
	// which takes seconds on a loaded machine.
	db.SetMaxIdleConns(16)
	return &Store{db: db, d: postgresDialect}, nil
}

// redactURL hides the password of a database URL, for errors and logs.
func redactURL(rawURL string) string {
	at := strings.LastIndex(rawURL, "@")
	scheme := strings.Index(rawURL, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return rawURL
	}
	userinfo := rawURL[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return rawURL[:scheme+3] + user + ":xxxxx" + rawURL[at:]
	}
	return rawURL
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// now is the store's clock: UTC, at the microsecond PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with "?" placeholders in the store's dialect.
type conn struct {
	q querier
	d dialect
}

func (s *Store) conn() conn { return conn{q: s.db, d: s.d} }

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), c.d.args(args)...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), c.d.args(args)...)
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), c.d.args(args)...)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(conn{q: tx, d: s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// notFound turns sql.ErrNoRows into ErrNotFound naming what was looked for.
func notFound(err error, what string, key any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %v: %w", what, key, ErrNotFound)
	}
	return err
}
