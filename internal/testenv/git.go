package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitRepo makes a git repository in a temporary folder with files (path ->
// content; a content starting with "->" makes a symbolic link, a name
// ending in .sh is executable) committed on branch main, and returns it.
func GitRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			mode := os.FileMode(0o644)
			if strings.HasSuffix(name, ".sh") {
				mode = 0o755
			}
			err = os.WriteFile(p, []byte(content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "init", "-q", "-b", "main")
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "--allow-empty", "-m", "Initial commit")
	return dir
}

// Git runs git in dir as a test author and returns its output, trimmed.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// GitRemote is GitRepo with a bare clone of it as its origin: bare stands
// for the repository a controller fetches, work is where a test commits
// and pushes.
func GitRemote(t testing.TB, files map[string]string) (work, bare string) {
	t.Helper()
	work = GitRepo(t, files)
	bare = filepath.Join(t.TempDir(), "origin.git")
	Git(t, work, "clone", "-q", "--bare", work, bare)
	Git(t, work, "remote", "add", "origin", bare)
	return work, bare
}
