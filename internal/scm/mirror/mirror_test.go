package mirror

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestSyncWithTokenOverHTTP: a private repository over HTTP (git's dumb
// protocol, behind basic auth) is mirrored and fetched with a token that
// appears neither in errors nor in the mirror's config.
func TestSyncWithTokenOverHTTP(t *testing.T) {
	const token = "glpat-very-secret-token"
	repo := testenv.GitRepo(t, map[string]string{"README": "hello"})
	testenv.Git(t, repo, "update-server-info")
	files := http.FileServer(http.Dir(filepath.Join(repo, ".git")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "oauth2" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	m := &Mirrors{Dir: t.TempDir()}
	url := srv.URL + "/"
	if _, err := m.Sync(context.Background(), "wrong", url, "not-the-token"); err == nil || strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("a wrong token: err = %v", err)
	}
	path, err := m.Sync(context.Background(), "p1", url, token)
	if err != nil {
		t.Fatal(err)
	}
	head := testenv.Git(t, repo, "rev-parse", "main")
	if got := testenv.Git(t, path, "rev-parse", "main"); got != head {
		t.Errorf("mirror main = %s, want %s", got, head)
	}
	// A new commit arrives with the next sync.
	os.WriteFile(filepath.Join(repo, "README"), []byte("hello again"), 0o644)
	testenv.Git(t, repo, "commit", "-qam", "Again")
	testenv.Git(t, repo, "update-server-info")
	if _, err := m.Sync(context.Background(), "p1", url, token); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Git(t, path, "rev-parse", "main"); got != testenv.Git(t, repo, "rev-parse", "main") {
		t.Errorf("mirror not fetched: %s", got)
	}
	config, _ := os.ReadFile(filepath.Join(path, "config"))
	if strings.Contains(string(config), token) {
		t.Errorf("the token is stored in the mirror's config:\n%s", config)
	}
}

// TestSyncSkipsTheFetchOfACommitItHolds: a sync for a commit the mirror
// holds does not reach the remote (gone here); one for a commit it lacks
// fetches, and fails when the remote is gone.
func TestSyncSkipsTheFetchOfACommitItHolds(t *testing.T) {
	repo := testenv.GitRepo(t, map[string]string{"README": "hello"})
	head := testenv.Git(t, repo, "rev-parse", "main")
	m := &Mirrors{Dir: t.TempDir()}
	if _, err := m.Sync(context.Background(), "p", repo, ""); err != nil {
		t.Fatal(err)
	}
	gone := repo + ".gone"
	if err := os.Rename(repo, gone); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(gone, repo) // for t.TempDir's removal
	if _, err := m.Sync(context.Background(), "p", repo, "", head); err != nil {
		t.Errorf("sync for a commit the mirror holds: %v", err)
	}
	missing := strings.Repeat("1", 40)
	if _, err := m.Sync(context.Background(), "p", repo, "", missing); err == nil || !strings.Contains(err.Error(), "git fetch") {
		t.Errorf("sync for a missing commit: err = %v, want the failed fetch", err)
	}
}
