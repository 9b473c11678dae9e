// Package embeddedtest shares one embedded proxy among the tests of a
// package: Caddy is a process-wide singleton, so a test process can run
// only one.
package embeddedtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy/embedded"
)

var (
	mu     sync.Mutex
	shared *embedded.Router
)

// Shared returns the test process's embedded proxy, started on a free
// loopback port by the first test that asks; it runs until the process
// ends.
func Shared(t testing.TB) *embedded.Router {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		r, err := embedded.Start(context.Background(), embedded.Config{Listen: "127.0.0.1:0", StorageDir: t.TempDir(), LogLevel: "ERROR", GracePeriod: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		shared = r
	}
	return shared
}
