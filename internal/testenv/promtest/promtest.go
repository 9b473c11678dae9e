// Package promtest starts a real Prometheus (Debian's prometheus package,
// scripts/setup.sh installs it) for tests, scraping targets on loopback.
package promtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/testenv"
)

// ScrapeInterval is how often the Prometheus of Start scrapes: short, so
// a test's rate() over a few seconds has samples.
const ScrapeInterval = time.Second

// Start runs Prometheus scraping targets (host:port, path /metrics) every
// ScrapeInterval and returns its base URL once it is ready. The test's
// cleanup stops it and waits for it to exit.
func Start(t testing.TB, targets ...string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (scripts/setup.sh installs Debian's prometheus): %v", err)
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: %s, evaluation_interval: %s}
scrape_configs:
- job_name: slipway
  static_configs: [{targets: [%s]}]
`, ScrapeInterval, ScrapeInterval, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	log := &testenv.Buffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %v\n%s", waitErr, log.String())
		case <-ctx.Done():
			t.Fatalf("prometheus not ready on %s within a minute:\n%s", addr, log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
