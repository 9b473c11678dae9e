package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func tarNames(t *testing.T, s contextSpec) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := s.writeTar(&buf); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		names = append(names, h.Name)
	}
	slices.Sort(names)
	return names
}

// TestContextTar checks what the engine receives: .dockerignore applied
// (with "!" exceptions), the Dockerfile and .dockerignore always sent even
// when a pattern matches them, and an outside Dockerfile added.
func TestContextTar(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	writeTestFile(t, filepath.Join(dir, ".dockerignore"), "*\n!src\nsrc/**/*.log\n")
	writeTestFile(t, filepath.Join(dir, "src/main.go"), "package main\n")
	writeTestFile(t, filepath.Join(dir, "src/deep/debug.log"), "x\n")
	writeTestFile(t, filepath.Join(dir, "secret.txt"), "x\n")

	s, err := newContextSpec(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got := tarNames(t, s)
	want := []string{".dockerignore", "Dockerfile", "src/", "src/deep/", "src/main.go"}
	if !slices.Equal(got, want) {
		t.Fatalf("context = %v, want %v", got, want)
	}

	outside := filepath.Join(t.TempDir(), "gen.Dockerfile")
	writeTestFile(t, outside, "FROM scratch\n")
	s, err = newContextSpec(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	if !s.outside || !strings.HasPrefix(s.inContext, ".slipway-dockerfile-") {
		t.Fatalf("spec %+v", s)
	}
	if got := tarNames(t, s); !slices.Contains(got, s.inContext) || slices.Contains(got, "Dockerfile") {
		t.Fatalf("context with an outside Dockerfile = %v", got)
	}
}

func TestContextErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := newContextSpec(filepath.Join(dir, "nope"), ""); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing context: %v", err)
	}
	if _, err := newContextSpec(dir, ""); err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
}

func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab-ci-token:TOKEN@git.example.com/g/app.git": "https://git.example.com/g/app.git",
		"https://git.example.com/g/app":                           "https://git.example.com/g/app",
		"git@github.com:slipway-cd/slipway.git":                   "github.com:slipway-cd/slipway.git",
		"ssh://git:pw@host:2222/g/app.git":                        "ssh://host:2222/g/app.git",
		"/srv/git/app.git":                                        "/srv/git/app.git",
	} {
		if got := PublicURL(in); got != want {
			t.Errorf("PublicURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialsNeverPrintThePassword(t *testing.T) {
	c := Credentials{Username: "ci", Password: "hunter2"}
	for _, s := range []string{c.String(), c.GoString(), fmtAll(c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
}

func fmtAll(c Credentials) string {
	return fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
}

func TestCredentialsFromEnv(t *testing.T) {
	env := map[string]string{
		"CI_REGISTRY": "registry.example.com", "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token",
	}
	getenv := func(k string) string { return env[k] }
	on := []string{"registry.example.com/g/app:1", "registry.example.com/g/app:2"}
	if c := CredentialsFromEnv(getenv, on); c.Username != "gitlab-ci-token" || c.Password != "job-token" {
		t.Errorf("refs on $CI_REGISTRY: got %v", c)
	}
	// A job token never goes to another registry, even one of several.
	for _, refs := range [][]string{
		{"docker.io/g/app:1"},
		{"registry.example.com/g/app:1", "registry.example.com.evil.net/g/app:1"},
	} {
		if c := CredentialsFromEnv(getenv, refs); c.Password != "" {
			t.Errorf("refs %v got the job token", refs)
		}
	}
	env["SLIPWAY_REGISTRY_USER"], env["SLIPWAY_REGISTRY_PASSWORD"] = "robot", "robot-pw"
	if c := CredentialsFromEnv(getenv, []string{"docker.io/g/app:1"}); c.Username != "robot" || c.Password != "robot-pw" {
		t.Errorf("SLIPWAY_REGISTRY_*: got %v", c)
	}
}

// BenchmarkContextTar measures sending a context of 2,000 small files with
// a .dockerignore that excludes half of them.
func BenchmarkContextTar(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		for _, ext := range []string{"go", "log"} {
			p := filepath.Join(dir, "src", fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%d.%s", i, ext))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1024), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("**/*.log\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := newContextSpec(dir, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.writeTar(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
