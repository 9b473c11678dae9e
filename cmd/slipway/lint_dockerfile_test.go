package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeLintFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLintDockerfileCommand(t *testing.T) {
	dir := t.TempDir()
	writeLintFile(t, filepath.Join(dir, "Dockerfile"), "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1 && rm -rf /var/lib/apt/lists/*\nUSER app\nCMD [\"curl\"]\n")
	// A Dockerfile an earlier step generated, with any name.
	writeLintFile(t, filepath.Join(dir, "out", "app.dockerfile"), "FROM alpine:latest\nRUN apk add curl\nWORKDIR app\n")

	stdout, stderr, code := slipway(t, dir, "lint", "dockerfile", "Dockerfile")
	if code != 0 || stdout != "" {
		t.Errorf("clean Dockerfile: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	stdout, _, code = slipway(t, dir, "lint", "dockerfile", "Dockerfile", "out/app.dockerfile")
	for _, want := range []string{
		"out/app.dockerfile:1 DL3007 warning: Using latest",
		"out/app.dockerfile:2 DL3018 warning:",
		"out/app.dockerfile:2 DL3019 info:",
		"out/app.dockerfile:3 DL3000 error: Use absolute WORKDIR",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output misses %q:\n%s", want, stdout)
		}
	}
	if code != 1 {
		t.Errorf("exit %d with findings, want 1", code)
	}

	// The threshold flag: only the error counts.
	if _, _, code = slipway(t, dir, "lint", "dockerfile", "--failure-threshold", "error", "--ignore", "DL3000", "out/app.dockerfile"); code != 0 {
		t.Errorf("threshold error with the error ignored: exit %d, want 0", code)
	}

	// The config file in the current folder is found on its own, and the
	// flag overrides its threshold.
	writeLintFile(t, filepath.Join(dir, ".hadolint.yaml"), "ignored: [DL3000]\nfailure-threshold: warning\n")
	stdout, _, code = slipway(t, dir, "lint", "dockerfile", "out/app.dockerfile")
	if strings.Contains(stdout, "DL3000") || code != 1 {
		t.Errorf("with .hadolint.yaml: exit %d, output\n%s", code, stdout)
	}
	if _, _, code = slipway(t, dir, "lint", "dockerfile", "--failure-threshold", "none", "out/app.dockerfile"); code != 0 {
		t.Errorf("--failure-threshold none: exit %d, want 0", code)
	}

	stdout, _, _ = slipway(t, dir, "lint", "dockerfile", "--format", "gitlab", "out/app.dockerfile")
	var issues []map[string]any
	if err := json.Unmarshal([]byte(stdout), &issues); err != nil || len(issues) != 3 {
		t.Errorf("gitlab output (%v):\n%s", err, stdout)
	}
	stdout, _, _ = slipway(t, dir, "lint", "dockerfile", "--format", "json", "--config", "/dev/null", "out/app.dockerfile")
	if err := json.Unmarshal([]byte(stdout), &issues); err != nil || len(issues) != 4 {
		t.Errorf("json output with an empty config (%v):\n%s", err, stdout)
	}
}

// TestLintDockerfileOldShorthands: -f and -t were hadolint's --format and
// --failure-threshold; in slipway -f is a file and -t a tag, as in docker,
// so they are deprecated but still work for scripts.
func TestLintDockerfileOldShorthands(t *testing.T) {
	dir := t.TempDir()
	writeLintFile(t, filepath.Join(dir, "Dockerfile"), "FROM debian\n")
	stdout, stderr, code := slipway(t, dir, "lint", "dockerfile", "-f", "json", "-t", "none", "Dockerfile")
	var issues []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &issues) != nil || len(issues) != 1 {
		t.Errorf("-f json -t none: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"-f has been deprecated, use --format", "-t has been deprecated, use --failure-threshold"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, stderr, _ := slipway(t, dir, "lint", "dockerfile", "--help"); strings.Contains(stderr, "shorthand") {
		t.Errorf("help shows the hidden flags:\n%s", stderr)
	}
}

func TestLintDockerfileCommandErrors(t *testing.T) {
	dir := t.TempDir()
	writeLintFile(t, filepath.Join(dir, "Dockerfile"), "FROM debian:12\nFORM x\n")
	writeLintFile(t, filepath.Join(dir, "bad.yaml"), "failure-threshold: loud\n")

	_, stderr, code := slipway(t, dir, "lint", "dockerfile", "Dockerfile")
	if code != 1 || !strings.Contains(stderr, "Dockerfile:2:1: unknown instruction \"FORM\"") {
		t.Errorf("parse error: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = slipway(t, dir, "lint", "dockerfile", "--config", "bad.yaml", "Dockerfile")
	if code != 1 || !strings.Contains(stderr, "bad.yaml:1:20:") {
		t.Errorf("bad config: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = slipway(t, dir, "lint", "dockerfile", "--format", "xml", "Dockerfile")
	if code != 1 || !strings.Contains(stderr, "--format") {
		t.Errorf("bad format: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = slipway(t, dir, "lint", "dockerfile", "missing")
	if code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}
