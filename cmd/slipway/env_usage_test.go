package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The server's answer, as internal/server's usage test sees it on a real
// server; here the CLI's request and table are what is tested.
const usageAnswer = `{"project": "shop", "environment": "review/usage", "state": "available", "sampled_at": "2026-11-25T12:00:00Z",
 "services": [
  {"service": "burner", "state": "running", "health": "none", "up": true, "restart_count": 0, "uptime_seconds": 75,
   "cpu_percent": 97.25, "memory_bytes": 335872, "memory_limit_bytes": 33554432,
   "network_rx_bytes_per_second": 12, "network_tx_bytes_per_second": 0, "history": []},
  {"service": "worker", "state": "exited", "health": "unhealthy", "up": false, "restart_count": 3, "uptime_seconds": 0,
   "cpu_percent": 0, "memory_bytes": 0, "memory_limit_bytes": 0,
   "network_rx_bytes_per_second": 0, "network_tx_bytes_per_second": 0, "history": []}]}`

func TestEnvUsagePrintsATable(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(usageAnswer))
	}))
	defer srv.Close()
	out, errOut, code := slipway(t, t.TempDir(), "env", "usage", "shop", "review/usage", "--server", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if asked != "/api/projects/shop/environments/review%2Fusage/usage" {
		t.Errorf("asked for %s", asked)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^review/usage \(shop\), available, sampled `),
		regexp.MustCompile(`(?m)^SERVICE\s+STATE\s+HEALTH\s+RESTARTS\s+UPTIME\s+CPU\s+MEMORY\s+LIMIT\s+NET IN\s+NET OUT$`),
		regexp.MustCompile(`(?m)^burner\s+running\s+none\s+0\s+1m15s\s+97\.2%\s+328\.0KiB\s+32\.0MiB\s+12B/s\s+0B/s$`),
		regexp.MustCompile(`(?m)^worker\s+exited\s+unhealthy\s+3\s+0s\s+0\.0%`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	// The old spelling still works, with a notice.
	out2, errOut, code := slipway(t, t.TempDir(), "env", "usage", "review/usage", "--project", "shop", "--server", srv.URL)
	if code != 0 || out2 != out || !strings.Contains(errOut, "--project is deprecated") {
		t.Errorf("--project: exit %d\n%s%s", code, out2, errOut)
	}
	if _, errOut, code := slipway(t, t.TempDir(), "env", "usage", "--server", srv.URL); code == 0 || !strings.Contains(errOut, "missing PROJECT and ENVIRONMENT") {
		t.Errorf("without arguments: exit %d, %s", code, errOut)
	}
}

// TestEnvUsageJSONIsTheAPIs: --json prints every field the server sent,
// those the table does not show (each service's history) too.
func TestEnvUsageJSONIsTheAPIs(t *testing.T) {
	answer := strings.Replace(usageAnswer, `"history": []}`, `"history": [{"at": "2026-11-25T11:59:00Z", "cpu_percent": 95.5, "memory_bytes": 300000}], "image": "shop/burner@sha256:abc"}`, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	out, errOut, code := slipway(t, t.TempDir(), "env", "usage", "shop", "review/usage", "--json", "--server", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got, want any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	json.Unmarshal([]byte(answer), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env usage --json =\n%s\nthe API answered\n%s", out, answer)
	}
}

// TestServerErrorsHaveOnePrefix: a plain-text answer that says "slipway:"
// itself (the host check's 421) is not printed "slipway: ...: slipway:".
func TestServerErrorsHaveOnePrefix(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `slipway: the host "ci.example" is not this server's: add it to allowed_hosts, or set base_url to it`, http.StatusMisdirectedRequest)
	}))
	defer srv.Close()
	_, errOut, code := slipway(t, t.TempDir(), "pipeline", "list", "shop", "--server", srv.URL)
	want := `slipway: GET /api/projects/shop/pipelines: 421 Misdirected Request: the host "ci.example" is not this server's: add it to allowed_hosts, or set base_url to it` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d\n got %q\nwant %q", code, errOut, want)
	}
}
