package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations are migrations/NNNN_name.sql, applied in order, each in its own
// transaction together with its row in schema_migrations. A released file is
// never edited: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	paths, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int64]string{}
	for _, p := range paths {
		base := strings.TrimSuffix(strings.TrimPrefix(p, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", p)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", p, v, other)
		}
		seen[v] = p
		text, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrationLockKey is the PostgreSQL advisory lock held while migrating, so
// that servers starting together migrate one after the other.
const migrationLockKey = 0x736c6970776179 // "slipway"

// migrate applies the migrations the database does not have yet.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// One connection for the whole run: an advisory lock belongs to a session.
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer c.Close()
	if s.d.name == postgresDialect.name {
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLockKey)); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLockKey)) //nolint:errcheck // the session ends with the connection anyway
	}
	// On SQLite, concurrent starts are serialised by BEGIN IMMEDIATE below;
	// IF NOT EXISTS makes this statement safe to race.
	create := s.d.schema(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at {{time}} NOT NULL
	)`)
	if _, err := c.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.apply(ctx, c, m); err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// apply runs one migration unless it is recorded already; the check is in
// the same transaction, so two servers never apply one migration twice.
func (s *Store) apply(ctx context.Context, c *sql.Conn, m migration) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	q := conn{q: tx, d: s.d}
	var n int
	if err := q.row(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.schema(m.sql)); err != nil {
		if m.version == projectNamesNoCase && isUnique(err) {
			tx.Rollback() //nolint:errcheck // the clash is the error to report
			return projectNameClash(ctx, conn{q: c, d: s.d})
		}
		return err
	}
	if _, err := q.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, now()); err != nil {
		return err
	}
	return tx.Commit()
}

// projectNamesNoCase is the migration that makes project names unique
// whatever their case; it fails on a database that has such twins.
const projectNamesNoCase = 9

// projectNameClash names the projects whose names differ only in case,
// which the operator must rename before this version can start.
func projectNameClash(ctx context.Context, q conn) error {
	rows, err := q.query(ctx, "SELECT id, name FROM projects ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[string]string{}
	var clashes []string
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		label := fmt.Sprintf("%q (id %d)", name, id)
		if first, ok := seen[strings.ToLower(name)]; ok {
			clashes = append(clashes, first+" and "+label)
			continue
		}
		seen[strings.ToLower(name)] = label
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return fmt.Errorf("projects %s have names that differ only in case: they would share one registry namespace. "+
		"Rename one of each with the earlier Slipway (UPDATE projects SET name = '...' WHERE id = ...), then start again",
		strings.Join(clashes, ", "))
}

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.conn().row(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v.Int64, nil
}
