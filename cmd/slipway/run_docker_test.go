package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestRunDockerAndShellShareArtifacts runs a pipeline whose jobs alternate
// between containers and the host shell (--executor auto), passing
// artifacts each way, on the real engine.
func TestRunDockerAndShellShareArtifacts(t *testing.T) {
	cli := testenv.Docker(t)
	image := testenv.BusyboxImage(t, cli)
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [one, two, three]
in-container:
  stage: one
  image:
    name: ` + image + `
    pull_policy: if-not-present
  script:
    - mkdir -p out && echo "from $(hostname) in docker" > out/a.txt
    - test -f /.dockerenv || test -d /proc/1 && echo container-ok
  artifacts:
    paths: [out/]
on-host:
  stage: two
  script:
    - cat out/a.txt
    - 'echo "host saw: $(cat out/a.txt)" > out/b.txt'
  artifacts:
    paths: [out/]
back-in-container:
  stage: three
  image:
    name: ` + image + `
    pull_policy: if-not-present
  script:
    - cat out/b.txt
    - 'grep -q "host saw: from" out/b.txt'
`})
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	reportPath := filepath.Join(dir, "r.json")
	out, errOut, code := slipway(t, dir, "run", "--executor", "auto", "--report", reportPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "host saw: from") || !strings.Contains(out, "in docker") {
		t.Errorf("artifacts did not travel:\n%s", out)
	}
	r := readReport(t, reportPath)
	for _, j := range r.Jobs {
		if j.Status != "success" {
			t.Errorf("job %s: %s", j.Name, j.Status)
		}
	}
	if len(r.Jobs) != 3 {
		t.Errorf("jobs = %+v", r.Jobs)
	}
}

// TestRunExecutorFromUserConfig: the user's config file sets the default
// executor; the flag wins over it; a bad file is named in the error.
func TestRunExecutorFromUserConfig(t *testing.T) {
	cli := testenv.Docker(t)
	image := testenv.BusyboxImage(t, cli)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
job:
  image:
    name: ` + image + `
    pull_policy: if-not-present
  script: [test "$CI_PROJECT_DIR" = /builds/project]
`})
	config := filepath.Join(dir, ".config-test", "slipway")
	os.MkdirAll(config, 0o755)
	os.WriteFile(filepath.Join(config, "config.yml"), []byte("executor: docker\n"), 0o644)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, ".config-test"))
	if out, errOut, code := slipway(t, dir, "run"); code != 0 {
		t.Errorf("with executor: docker in the config: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := slipway(t, dir, "run", "--executor", "shell"); code == 0 || !strings.Contains(errOut, "ignored by the shell executor") {
		t.Errorf("--executor shell must win over the config (and the job then fails on the host): %d %s", code, errOut)
	}
	os.WriteFile(filepath.Join(config, "config.yml"), []byte("exector: docker\n"), 0o644)
	if _, errOut, code := slipway(t, dir, "run"); code == 0 || !strings.Contains(errOut, "config.yml") {
		t.Errorf("a bad config file: %d %s", code, errOut)
	}
}
