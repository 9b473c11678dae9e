package server

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/proxy/embedded"
)

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A proxy: section without review environments or GitOps starts no proxy:
// serve says so when it starts, and the CA's 404 says why (both were
// silent: a user who followed docs/proxy.md got nothing on the port).
func TestConfiguredProxyThatNothingUsesIsReported(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Executor: "shell", Concurrency: 1}
	cfg.Proxy.Embedded = embedded.Config{Listen: "127.0.0.1:0"}
	var log syncBuffer
	s := startUIServer(t, cfg, &log)
	t.Cleanup(func() { closeUIServer(s) })
	if !strings.Contains(log.String(), "no proxy runs") || !strings.Contains(log.String(), "environments: enabled: true") {
		t.Errorf("serve with an unused proxy: section logged no word of it:\n%s", log.String())
	}

	resp, err := http.Get(s.URL() + "/api/proxy/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "environments: enabled: true") {
		t.Errorf("GET /api/proxy/ca.crt without a proxy: %s %s, want a 404 that says how to start the proxy", resp.Status, body)
	}
}

// Without a proxy: section, there is nothing to warn about.
func TestNoProxySectionNoWarning(t *testing.T) {
	var log syncBuffer
	s := startUIServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Executor: "shell", Concurrency: 1}, &log)
	t.Cleanup(func() { closeUIServer(s) })
	if strings.Contains(log.String(), "no proxy runs") {
		t.Errorf("serve without a proxy: section warned of it:\n%s", log.String())
	}
}
