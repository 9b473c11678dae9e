package server_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestUnknownRefIsABadRequest: running a branch the repository does not
// have is the caller's mistake (400, naming the ref), not the server's.
func TestUnknownRefIsABadRequest(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	var body struct{ Error string }
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "no-such-branch"}, &body); code != http.StatusBadRequest || !strings.Contains(body.Error, "no-such-branch") {
		t.Fatalf("run on an unknown ref: %d %q, want 400 naming the ref", code, body.Error)
	}
	out, err := exec.Command(slipwayBin, "pipeline", "run", "shop", "--ref", "no-such-branch", "--server", s.url).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "400 Bad Request") {
		t.Errorf("slipway pipeline run --ref no-such-branch: %v\n%s", err, out)
	}
}
