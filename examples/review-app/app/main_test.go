package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPageShowsBranchFromInjectedFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "reviewEnv.json")
	if err := os.WriteFile(f, []byte(`{"reviewBranch":"feature/<b>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(f, "http://review-x-sigver.example"))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":           "Branch feature/&lt;b&gt;",
		"/api/branch": "feature/<b>",
		"/healthz":    "ok",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
}

func TestMissingFileIsAServerError(t *testing.T) {
	srv := httptest.NewServer(handler(filepath.Join(t.TempDir(), "none.json"), ""))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/branch")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
}
