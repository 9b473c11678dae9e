package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// TestGitopsUsagePrintsEachApp: `slipway gitops usage` asks the server for
// the deployment's usage and prints each app's table as `env usage` does.
func TestGitopsUsagePrintsEachApp(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"deployment": "prod", "target": "docker", "interval_seconds": 15, "apps": [
 {"deployment": "prod", "app": "web", "sampled_at": "2026-11-25T12:00:00Z", "services": [
  {"service": "web", "state": "running", "health": "healthy", "up": true, "restart_count": 1, "uptime_seconds": 75,
   "cpu_percent": 12.5, "memory_bytes": 335872, "memory_limit_bytes": 33554432,
   "network_rx_bytes_per_second": 12, "network_tx_bytes_per_second": 2048, "history": []}]},
 {"deployment": "prod", "app": "idle", "services": []}]}`))
	}))
	defer srv.Close()
	out, errOut, code := slipway(t, t.TempDir(), "gitops", "usage", "prod", "--server", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if asked != "/api/gitops/prod/usage" {
		t.Errorf("asked for %s", asked)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^deployment prod \(docker\)$`),
		regexp.MustCompile(`(?m)^app web, sampled `),
		regexp.MustCompile(`(?m)^web\s+running\s+healthy\s+1\s+1m15s\s+12\.5%\s+328\.0KiB\s+32\.0MiB\s+12B/s\s+2\.0KiB/s$`),
		regexp.MustCompile(`(?m)^app idle\nno service runs, or none was sampled yet$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

// TestGitopsStatusFromTheServer: `slipway gitops status --server` prints
// each deployment's status from GET /api/gitops, then its apps' usage.
func TestGitopsStatusFromTheServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/gitops" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"deployments": [{"name": "onkube", "condition": "Ready", "reason": "Succeeded", "message": "applied",
 "observed_revision": "0123456789abcdef", "target": "kubernetes", "apps": [],
 "usage": [{"deployment": "onkube", "services": [{"service": "burner", "state": "running", "health": "healthy", "up": true,
  "cpu_percent": 20, "memory_bytes": 1048576, "memory_limit_bytes": 100663296}]}]}], "images": {}}`))
	}))
	defer srv.Close()
	out, errOut, code := slipway(t, t.TempDir(), "gitops", "status", "--server", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^deployment onkube: Ready \(Succeeded\) at 0123456789ab: applied$`),
		regexp.MustCompile(`(?m)^workloads\nSERVICE\s+STATE`),
		regexp.MustCompile(`(?m)^burner\s+running\s+healthy\s+0\s+0s\s+20\.0%\s+1\.0MiB\s+96\.0MiB`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
