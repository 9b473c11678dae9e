package store_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSQLiteFilesAreTheServersAlone: the database (project variables,
// tokens) and its WAL files are created readable by their owner only,
// whatever the umask.
func TestSQLiteFilesAreTheServersAlone(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "slipway.db")
	s := open(t, "sqlite://"+path)
	mustProject(t, s, "shop")
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v, want others and the group shut out", filepath.Base(f), info.Mode().Perm())
		}
	}
}
