package workspace

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/testenv"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSnapshotCopiesAreFreshAndKeepModesAndLinks(t *testing.T) {
	repo := testenv.GitRepo(t, map[string]string{"a.txt": "A", "sub/run.sh": "echo hi", "link": "->a.txt"})
	s, err := Extract(context.Background(), repo, "HEAD", filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	one, two := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	if err := s.CopyTo(one); err != nil {
		t.Fatal(err)
	}
	write(t, one, "a.txt", "changed")
	if err := s.CopyTo(two); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(two, "a.txt")); got != "A" {
		t.Errorf("second copy sees the first one's change: %q", got)
	}
	fi, err := os.Stat(filepath.Join(two, "sub/run.sh"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its executable bit: %v %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(two, "link")); err != nil || target != "a.txt" {
		t.Errorf("link: %q %v", target, err)
	}
	if !s.Tracked("sub/run.sh") || s.Tracked("new.txt") {
		t.Error("Tracked is wrong")
	}
}

func TestExtractUnknownCommitSaysWhich(t *testing.T) {
	repo := testenv.GitRepo(t, map[string]string{"a": "a"})
	_, err := Extract(context.Background(), repo, "deadbeef", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "deadbeef") {
		t.Errorf("err %v", err)
	}
}

func TestCollectGlobsFoldersExcludeAndUntracked(t *testing.T) {
	repo := testenv.GitRepo(t, map[string]string{"src/main.c": "x", "README": "r"})
	s, err := Extract(context.Background(), repo, "HEAD", filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	job := t.TempDir()
	if err := s.CopyTo(job); err != nil {
		t.Fatal(err)
	}
	write(t, job, "dist/app", "bin")
	write(t, job, "dist/app.o", "obj")
	write(t, job, "dist/deep/x.o", "obj")
	write(t, job, "dist/deep/keep.txt", "k")
	write(t, job, "report.xml", "xml")
	write(t, job, "notes.tmp", "t")

	cases := []struct {
		name string
		sel  Selection
		want []string
	}{
		{"folder", Selection{Paths: []string{"./dist/"}}, []string{"dist/app", "dist/app.o", "dist/deep/keep.txt", "dist/deep/x.o"}},
		{"exclude", Selection{Paths: []string{"dist"}, Exclude: []string{"**/*.o"}}, []string{"dist/app", "dist/deep/keep.txt"}},
		{"exclude folder", Selection{Paths: []string{"dist"}, Exclude: []string{"dist/deep"}}, []string{"dist/app", "dist/app.o"}},
		{"glob", Selection{Paths: []string{"*.xml", "src/*.c"}}, []string{"report.xml", "src/main.c"}},
		{"untracked", Selection{Untracked: true, Tracked: s.Tracked, Exclude: []string{"dist/**"}}, []string{"notes.tmp", "report.xml"}},
		{"nothing", Selection{Paths: []string{"missing/**"}}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := t.TempDir()
			got, err := Collect(job, c.sel, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			for _, f := range c.want {
				if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
					t.Errorf("not copied: %v", err)
				}
			}
		})
	}
}

func TestCollectRefusesPathsOutsideTheWorkingCopy(t *testing.T) {
	for _, p := range []string{"../secret", "/etc/passwd", "a/../../b"} {
		if _, err := Collect(t.TempDir(), Selection{Paths: []string{p}}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "outside the project directory") {
			t.Errorf("%s: err %v", p, err)
		}
	}
}

func TestCacheRoundTripReplacesAndFallsBack(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	job := t.TempDir()
	write(t, job, "vendor/lib.txt", "v1")
	write(t, job, "vendor/old.txt", "old")
	if n, err := c.Save("main/deps", job, Selection{Paths: []string{"vendor"}}); err != nil || n != 2 {
		t.Fatalf("save: %d %v", n, err)
	}
	if err := os.Remove(filepath.Join(job, "vendor/old.txt")); err != nil {
		t.Fatal(err)
	}
	write(t, job, "vendor/lib.txt", "v2")
	if _, err := c.Save("main/deps", job, Selection{Paths: []string{"vendor"}}); err != nil {
		t.Fatal(err)
	}

	fresh := t.TempDir()
	hit, err := c.Restore([]string{"other", "main/deps"}, fresh)
	if err != nil || hit != "main/deps" {
		t.Fatalf("restore: %q %v", hit, err)
	}
	if got := read(t, filepath.Join(fresh, "vendor/lib.txt")); got != "v2" {
		t.Errorf("lib.txt %q, want v2", got)
	}
	if _, err := os.Stat(filepath.Join(fresh, "vendor/old.txt")); err == nil {
		t.Error("a save did not replace the entry: old.txt came back")
	}
	if hit, err := c.Restore([]string{"nope"}, fresh); err != nil || hit != "" {
		t.Errorf("miss: %q %v", hit, err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want 1 (no leftovers)", len(entries))
	}
}

// A key past a file name's 255 bytes (a 300-character branch name as the
// key) is saved and restored, and two such keys that share their start
// keep their own entries.
func TestCacheOfLongKeys(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	long := strings.Repeat("feature/", 40) // 320 bytes, 400 escaped
	for _, key := range []string{long + "a", long + "b"} {
		job := t.TempDir()
		write(t, job, "vendor/which", key)
		if n, err := c.Save(key, job, Selection{Paths: []string{"vendor"}}); err != nil || n != 1 {
			t.Fatalf("save %d bytes of key: %d %v", len(key), n, err)
		}
	}
	for _, key := range []string{long + "a", long + "b"} {
		fresh := t.TempDir()
		if hit, err := c.Restore([]string{key}, fresh); err != nil || hit != key {
			t.Fatalf("restore: %q %v", hit, err)
		}
		if got := read(t, filepath.Join(fresh, "vendor/which")); got != key {
			t.Errorf("the entry of one long key holds another's files")
		}
	}
}

func TestFilesKeyFollowsContents(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "go.sum", "a")
	k1, _ := FilesKey(dir, []string{"go.sum", "missing"}, "deps")
	write(t, dir, "go.sum", "b")
	k2, _ := FilesKey(dir, []string{"go.sum"}, "deps")
	k3, _ := FilesKey(dir, []string{"missing"}, "")
	if k1 == k2 || !strings.HasPrefix(k1, "deps-") {
		t.Errorf("keys %q %q", k1, k2)
	}
	if k3 != "default" {
		t.Errorf("no file: %q, want default", k3)
	}
}

func TestParseDotenv(t *testing.T) {
	got, err := ParseDotenv("build.env", strings.NewReader("# c\n\nVERSION=1.2\nURL=\"http://x/?a=b\"\n  SPACED = 'v'\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{{"VERSION", "1.2"}, {"URL", "http://x/?a=b"}, {"SPACED", "v"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	_, err = ParseDotenv("build.env", strings.NewReader("A=1\n  1BAD=x\n"))
	if err == nil || !strings.Contains(err.Error(), "build.env:2:3:") {
		t.Errorf("err %v, want build.env:2:3", err)
	}
	_, err = ParseDotenv("build.env", strings.NewReader("JUSTTEXT\n"))
	if err == nil || !strings.Contains(err.Error(), "build.env:1:1: want NAME=VALUE") {
		t.Errorf("err %v", err)
	}
}

// A committed link to a host file must not make the server read it, as the
// pipeline file or as an included one; links inside the project still work.
func TestLoadPipelineNeverReadsThroughLinksOutOfTheCommit(t *testing.T) {
	host := filepath.Join(t.TempDir(), "host.yml")
	write(t, filepath.Dir(host), "host.yml", "stolen:\n  script: [echo HOST-FILE]\n")
	ctx := context.Background()

	repo := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "->" + host})
	if _, err := LoadPipeline(ctx, repo, "HEAD", ".gitlab-ci.yml"); err == nil || !strings.Contains(err.Error(), "symbolic link leads out of the project folder") {
		t.Errorf("pipeline file linked to a host file: err %v", err)
	}

	repo = testenv.GitRepo(t, map[string]string{
		".gitlab-ci.yml": "include:\n  - local: ci/jobs.yml\n  - local: stolen.yml\n",
		"ci/real.yml":    "build:\n  script: [echo ok]\n",
		"ci/jobs.yml":    "->real.yml",
		"stolen.yml":     "->" + host,
	})
	_, err := LoadPipeline(ctx, repo, "HEAD", ".gitlab-ci.yml")
	if err == nil || !strings.Contains(err.Error(), "included file stolen.yml: a symbolic link leads out of the project folder") {
		t.Fatalf("include of a link to a host file: err %v", err)
	}
	if strings.Contains(err.Error(), "ci/jobs.yml") {
		t.Errorf("a link inside the project was refused: %v", err)
	}
}

// Open, used for dotenv reports and cache:key:files, refuses a path through
// a link that leads out of the working copy.
func TestOpenStaysInTheWorkingCopy(t *testing.T) {
	host := t.TempDir()
	write(t, host, "secret.env", "TOKEN=host")
	job := t.TempDir()
	if err := os.Symlink(host, filepath.Join(job, "hostdir")); err != nil {
		t.Fatal(err)
	}
	write(t, job, "build.env", "A=1")
	if err := os.Symlink("build.env", filepath.Join(job, "link.env")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(job, "hostdir/secret.env"); err == nil || !strings.Contains(err.Error(), "leads out of the working copy") {
		t.Errorf("err %v", err)
	}
	f, err := Open(job, "link.env")
	if err != nil {
		t.Fatalf("a link inside the working copy: %v", err)
	}
	f.Close()
	if k, err := FilesKey(job, []string{"hostdir/secret.env"}, ""); err == nil || !strings.Contains(err.Error(), "leads out of the working copy") {
		t.Errorf("cache:key:files through a link to a host folder: key %q, err %v", k, err)
	}
}
