// Package storetest gives tests a fresh, empty database of each kind the
// store supports: a SQLite file in the test's temp folder, and a database of
// its own on the PostgreSQL that scripts/postgres.sh starts.
//
// Without SLIPWAY_TEST_POSTGRES the PostgreSQL half is skipped on a
// developer's machine and fails under CI (CI set): a suite that silently
// skips its PostgreSQL tests proves nothing.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// PostgresEnv names the URL of the test PostgreSQL (a database the tests
// may connect to and create databases from).
const PostgresEnv = "SLIPWAY_TEST_POSTGRES"

// Each runs fn as two subtests, "sqlite" and "postgres", each with the URL
// of a fresh database for store.Open.
func Each(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresURL(t)) })
}

// SQLiteURL returns the URL of a new SQLite file in t's temp folder.
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "slipway.db")
}

// PostgresURL creates a database of its own for t on the test PostgreSQL,
// returns its URL and drops it when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		msg := PostgresEnv + " is not set; start PostgreSQL with: eval \"$(scripts/postgres.sh up)\""
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "slipway_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database on %s: %v\nstart PostgreSQL with: eval \"$(scripts/postgres.sh up)\"", u.Redacted(), err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
