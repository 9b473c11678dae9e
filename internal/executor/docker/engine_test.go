package docker_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// TestArtifactsPassBetweenDockerAndShellJobs runs a pipeline through the
// engine where a Docker job's artifacts feed a shell job, whose artifacts
// feed a Docker job again.
func TestArtifactsPassBetweenDockerAndShellJobs(t *testing.T) {
	dockerExe, _, img := newExecutor(t)
	shellExe := &shell.Executor{}
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "VERSION"), []byte("1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "init"}} {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	stages := []string{"build", "package", "verify"}
	job := func(name string, stage int, image *ci.Image, artifacts []string, script ...string) *ci.PlannedJob {
		def := &ci.Job{Name: name, Stage: stages[stage], Script: script, Image: image}
		if artifacts != nil {
			def.Artifacts = &ci.Artifacts{Paths: artifacts}
		}
		return &ci.PlannedJob{Name: name, Stage: stages[stage], StageIndex: stage, When: ci.OnSuccess, Def: def}
	}
	plan := &ci.Plan{Stages: stages, Jobs: []*ci.PlannedJob{
		job("build", 0, &ci.Image{Name: img}, []string{"dist/"},
			`mkdir -p dist && echo "app $(cat VERSION) built in $(uname -n)" > dist/app`, `echo "$CI_PROJECT_DIR" > dist/where`),
		job("package", 1, nil, []string{"pkg/"},
			"mkdir -p pkg", "cp dist/app pkg/app", `echo "packaged on the host in $CI_PROJECT_DIR" >> pkg/app`),
		job("verify", 2, &ci.Image{Name: img}, nil, "cat pkg/app", "cat dist/where"),
	}}

	var mu sync.Mutex
	logs := map[string]*strings.Builder{}
	res, err := engine.Run(context.Background(), plan, engine.Options{
		Repo: repo, Commit: "HEAD", WorkDir: t.TempDir(),
		ExecutorFor: func(j *ci.PlannedJob) (executor.Executor, error) {
			if j.Def.Image != nil {
				return dockerExe, nil
			}
			return shellExe, nil
		},
		Events: func(e engine.Event) {
			if e.Kind != engine.JobLog {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if logs[e.Job] == nil {
				logs[e.Job] = &strings.Builder{}
			}
			logs[e.Job].WriteString(e.Line + "\n")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := ""
	if logs["verify"] != nil {
		verify = logs["verify"].String()
	}
	if res.Status != engine.Success {
		for name, l := range logs {
			t.Logf("%s:\n%s", name, l)
		}
		t.Fatalf("pipeline %s", res.Status)
	}
	projectDir := dockerExe.ProjectDir("")
	for _, want := range []string{"app 1.2.3 built in ", "packaged on the host in /", "$ cat dist/where\n" + projectDir + "\n"} {
		if !strings.Contains(verify, want) {
			t.Errorf("verify log lacks %q:\n%s", want, verify)
		}
	}
	if strings.Contains(verify, "packaged on the host in "+projectDir) {
		t.Errorf("the shell job saw the container's project dir:\n%s", verify)
	}
}
