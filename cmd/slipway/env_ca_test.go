package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEnvCAErrorIsOneLine: a server without HTTPS answers the CA request
// with an API error; the CLI prints its message on one line, as every
// other command does, not the raw JSON body.
func TestEnvCAErrorIsOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("{\n  \"error\": \"no local CA: HTTPS is off (proxy.embedded.https.listen)\"\n}\n"))
	}))
	defer srv.Close()
	_, errOut, code := slipway(t, t.TempDir(), "env", "ca", "--server", srv.URL)
	want := "slipway: GET /api/proxy/ca.crt: 404 Not Found: no local CA: HTTPS is off (proxy.embedded.https.listen)\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q, want 1 and %q", code, errOut, want)
	}
	_, errOut, _ = slipway(t, t.TempDir(), "env", "ca", "--server", "http://127.0.0.1:1")
	if !strings.Contains(errOut, "did not answer") {
		t.Errorf("unreachable server: %q", errOut)
	}
}
