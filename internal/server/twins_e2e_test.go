package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// A twin in another PID namespace on the same hostname (a container on
// the host network) cannot see the first server's process: it must not
// take it for gone, and is refused like any twin.
func TestServerNameTwinInAnotherPIDNamespaceIsRefused(t *testing.T) {
	db := storetest.PostgresURL(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	if err := os.WriteFile(config, []byte("heartbeat_interval: 200ms\nheartbeat_grace: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := []string{"--config", config, "--server-name", "pidns-twin"}
	startServerArgs(t, db, t.TempDir(), name...)

	// --kill-child: killing unshare at the deadline kills the twin too.
	args := append([]string{"--pid", "--fork", "--kill-child", slipwayBin, "serve", "--data", t.TempDir(), "--database", db, "--listen", testenv.FreeAddr(t)}, name...)
	// A twin that starts serves until killed: give it a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `server_name "pidns-twin": another server of that name is running`) {
		t.Fatalf("twin in its own PID namespace: %v\n%s", err, out)
	}
}
