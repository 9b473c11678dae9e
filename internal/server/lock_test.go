package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneServerPerSQLiteFolder: a second server on the data folder, or on
// the SQLite database, of a running one is refused whatever its
// server_name, with an error naming the folder and the running server's
// PID; once the first stops, it starts.
func TestOneServerPerSQLiteFolder(t *testing.T) {
	first := startUIServer(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ServerName: "one"}, io.Discard)
	db := first.cfg.Database
	for what, tweak := range map[string]func(*Config){
		"the same data folder":     func(c *Config) { c.DataDir = first.cfg.DataDir },
		"the same SQLite database": func(c *Config) { c.Database = db },
	} {
		cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ServerName: "two"}
		tweak(&cfg)
		s, err := New(context.Background(), cfg, nil)
		if err == nil {
			closeUIServer(s)
			t.Errorf("a second server on %s started", what)
			continue
		}
		dir := filepath.Dir(strings.TrimPrefix(db, "sqlite://"))
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("second server on %s: %v, want the folder %s and pid %d named", what, err, dir, os.Getpid())
		}
	}
	closeUIServer(first)
	again := startUIServer(t, Config{DataDir: first.cfg.DataDir, Listen: "127.0.0.1:0", ServerName: "two"}, io.Discard)
	closeUIServer(again)
}

// TestShortAPITokenRefused: a token short enough to guess stops the start,
// naming the variable and the length wanted (never the token).
func TestShortAPITokenRefused(t *testing.T) {
	t.Setenv("SLIPWAY_SHORT_TOKEN", "hunter2")
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), APITokenEnv: "SLIPWAY_SHORT_TOKEN"}, nil)
	if err == nil {
		closeUIServer(s)
		t.Fatal("a server started with a 7-character API token")
	}
	if msg := err.Error(); !strings.Contains(msg, "$SLIPWAY_SHORT_TOKEN") || !strings.Contains(msg, "at least 16") || strings.Contains(msg, "hunter2") {
		t.Errorf("error %q: want the variable and the minimum named, and no token", msg)
	}
}
