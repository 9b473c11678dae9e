package deploy

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
