package deploy

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The control endpoint refuses what a web page could send it: a form or
// text body (no CORS preflight), or a Host that is not loopback (DNS
// rebinding); it never reaches the runner.
func TestControlRefusesRequestsABrowserPageCouldSend(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(file, []byte("targets:\n  dev: {compose: compose.yaml, strategy: rolling}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	h := ControlHandler(nil, cfg)
	for _, tc := range []struct {
		host, contentType string
		want              int
	}{
		{"127.0.0.1:8079", "text/plain", http.StatusUnsupportedMediaType},
		{"127.0.0.1:8079", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"evil.example.com:8079", "application/json", http.StatusForbidden},
		{"127.0.0.1:8079", "application/json", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodPost, "/rollbacks", strings.NewReader(`{"target":"production"}`))
		req.Host = tc.host
		req.Header.Set("Content-Type", tc.contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("Host %s, %s: %d %s, want %d", tc.host, tc.contentType, rec.Code, rec.Body, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(rec.Body.String(), `no target \"production\"`) {
			t.Errorf("an allowed request: %s, want the config's answer", rec.Body)
		}
	}
}

func TestControlAddressMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8079": true, "localhost:1": true, "[::1]:8079": true, "0.0.0.0:8079": false, "10.0.0.1:8079": false, "8079": false} {
		if err := CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}

// POST /gates sets the gate of the target's environment: serve, which
// runs the canaries, holds the gates.
func TestControlGates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(file, []byte("targets:\n  dev: {compose: compose.yaml, strategy: canary}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{opts: Options{StateDir: t.TempDir()}, log: slog.New(slog.DiscardHandler), locks: map[string]*sync.Mutex{}}
	h := ControlHandler(r, cfg)
	post := func(body string) string {
		req := httptest.NewRequest(http.MethodPost, "/gates", strings.NewReader(body))
		req.Host = "127.0.0.1:8079"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("POST /gates %s: %d %s", body, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	if got := post(`{"target":"dev","gate":"pause"}`); strings.Contains(got, "error") {
		t.Fatalf("pause: %s", got)
	}
	if g := r.gates["dev"]; g == nil || !g.paused {
		t.Fatalf("gate of dev after pause: %+v", g)
	}
	post(`{"target":"dev","gate":"resume"}`)
	if r.gates["dev"].paused {
		t.Fatal("still paused after resume")
	}
	for body, want := range map[string]string{
		`{"target":"dev","gate":"approve"}`: "no canary in progress",
		`{"target":"dev","gate":"skip"}`:    `gate action \"skip\": want pause, resume or approve`,
		`{"target":"prod","gate":"pause"}`:  `no target \"prod\"`,
	} {
		if got := post(body); !strings.Contains(got, want) {
			t.Errorf("POST /gates %s: %s, want %q", body, got, want)
		}
	}
}
