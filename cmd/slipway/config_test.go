package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// slipway serve takes the proxy: keys docs/proxy.md documents, and a bad
// key stops it with its file:line:col and the key meant.
func TestServeConfigErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "slipway.yml"), []byte("proxy:\n  domain: review.example.com\n  embedded: {listen: 127.0.0.1:0}\nlisen: 127.0.0.1:0\n"), 0o644)
	stdout, stderr, code := slipway(t, dir, "serve", "--config", "slipway.yml", "--data", filepath.Join(dir, "data"))
	if code != 1 || strings.TrimSpace(stderr) != `slipway: slipway.yml:4:1: unknown key "lisen" (did you mean listen?)` {
		t.Errorf("exit %d, want 1 and one error at 4:1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// The user's CLI config file gets the same errors.
func TestCLIConfigErrorsCLI(t *testing.T) {
	dir := releaseRepos(t, map[string]string{"app": "build:\n  script: [true]\n"})
	config := filepath.Join(dir, "config")
	os.MkdirAll(filepath.Join(config, "slipway"), 0o755)
	os.WriteFile(filepath.Join(config, "slipway", "config.yml"), []byte("exector: docker\n"), 0o644)
	_, stderr, code := slipwayWith(t, filepath.Join(dir, "app"), []string{"XDG_CONFIG_HOME=" + config}, "", "run")
	if want := `config.yml:1:1: unknown key "exector" (did you mean executor?)`; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
}

// The review app example's test job runs in merge request pipelines, as
// well as in branch pipelines.
func TestReviewExampleTestsMergeRequestsCLI(t *testing.T) {
	ci, err := os.ReadFile(filepath.Join("..", "..", "examples", "review-app", ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(releaseRepos(t, map[string]string{"example": string(ci)}), "example")
	for _, source := range []string{"merge_request_event", "push"} {
		stdout, stderr, code := slipway(t, dir, "run", "--source", source, "--list")
		if code != 0 || !regexp.MustCompile(`(?m)^test +test `).MatchString(stdout) {
			t.Errorf("--source %s: exit %d, no test job in the plan:\n%s%s", source, code, stdout, stderr)
		}
	}
}
