package docker_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// The working copy is bind-mounted into a job's container, so a link the
// job makes (`ln -s / hostroot`) names the host's files when the engine
// follows it on the host. These tests are the attacks of the security
// review: none may read or write a host file.

// TestArtifactsAndCacheNeverReadHostFilesThroughLinks: a job links the
// container's / and asks for a host file through the link as its artifact
// and cache; the host file must reach neither, nor a later job.
func TestArtifactsAndCacheNeverReadHostFilesThroughLinks(t *testing.T) {
	hostDir := t.TempDir()
	const secret = "HOST-SECRET-9f3b1c"
	if err := os.WriteFile(filepath.Join(hostDir, "shadow"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stolen := "hostroot" + hostDir + "/shadow"
	steal := job("steal", 0, true, "ln -s / hostroot", "mkdir -p dist", "echo built > dist/app", "ln -s dist/app current")
	steal.Def.Artifacts = &ci.Artifacts{Paths: []string{stolen, "hostroot" + hostDir, "dist/", "current"}}
	steal.Def.Cache = []ci.Cache{{Key: "k", Paths: []string{stolen}}}
	use := job("use", 1, true, "cat "+stolen+" || echo no-host-file", "readlink current", "cat current")
	res, logs, workDir := runJobs(t, steal, use)
	if res.Status != engine.Success {
		t.Fatalf("pipeline %s:\n%s", res.Status, logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the host file reached a job's log:\n%s", logs)
	}
	for _, want := range []string{"no-host-file", "$ readlink current\ndist/app\n", "$ cat current\nbuilt\n"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q (a link inside the working copy is kept as a link):\n%s", want, logs)
		}
	}
	if files := filesContaining(t, workDir, secret); len(files) > 0 {
		t.Errorf("the host file was copied into Slipway's data: %v", files)
	}
}

// TestArtifactsNeverWriteThroughLinksToHostFolders: one job's artifact is a
// link to a host folder, another's is a folder of the same name with a
// file; restoring both for a later job must not write that file into the
// host folder.
func TestArtifactsNeverWriteThroughLinksToHostFolders(t *testing.T) {
	hostDir := t.TempDir()
	link := job("link", 0, true, "ln -s "+hostDir+" out", "ln -s / root")
	link.Def.Artifacts = &ci.Artifacts{Paths: []string{"out", "root"}}
	payload := job("payload", 0, true, "mkdir -p out root"+hostDir, "echo pwned > out/pwned", "echo pwned > root"+hostDir+"/pwned2")
	payload.Def.Artifacts = &ci.Artifacts{Paths: []string{"out/", "root/"}}
	use := job("use", 1, true, "cat out/pwned", "ls -la out")
	res, logs, _ := runJobs(t, link, payload, use)
	entries, err := os.ReadDir(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("a job wrote %s into the host folder %s:\n%s", entries[0].Name(), hostDir, logs)
	}
	if res.Status != engine.Success || !strings.Contains(logs, "$ cat out/pwned\npwned\n") {
		t.Errorf("the later artifact should replace the link, as tar does (status %s):\n%s", res.Status, logs)
	}
}

func job(name string, stage int, inDocker bool, script ...string) *ci.PlannedJob {
	stages := []string{"build", "test"}
	def := &ci.Job{Name: name, Stage: stages[stage], Script: script}
	if inDocker {
		def.Image = &ci.Image{Name: "busybox"} // replaced by runJobs
	}
	return &ci.PlannedJob{Name: name, Stage: stages[stage], StageIndex: stage, When: ci.OnSuccess, Def: def}
}

// runJobs runs the jobs with the Docker executor on a one-file repository
// and returns the result, every job's log, and the engine's work folder.
func runJobs(t *testing.T, jobs ...*ci.PlannedJob) (*engine.Result, string, string) {
	t.Helper()
	exe, _, img := newExecutor(t)
	for _, j := range jobs {
		if j.Def.Image != nil {
			j.Def.Image.Name = img
		}
	}
	repo := testenv.GitRepo(t, map[string]string{"README": "r"})
	workDir := t.TempDir()
	var mu sync.Mutex
	var logs strings.Builder
	res, err := engine.Run(context.Background(), &ci.Plan{Stages: []string{"build", "test"}, Jobs: jobs}, engine.Options{
		Repo: repo, Commit: "HEAD", WorkDir: workDir,
		ExecutorFor: func(*ci.PlannedJob) (executor.Executor, error) { return exe, nil },
		Events: func(e engine.Event) {
			if e.Kind == engine.JobLog {
				mu.Lock()
				defer mu.Unlock()
				logs.WriteString(e.Line + "\n")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, logs.String(), workDir
}

// filesContaining lists the regular files under dir whose content holds s.
func filesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
