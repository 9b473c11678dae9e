package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// serverName is the default server_name of a server on this machine.
func serverName(t *testing.T, dataDir string) string {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return host + ":" + dataDir
}

// twoServers starts two servers, each with a data folder of its own, on
// database db with config, and adds the project shop (repo) through a.
func twoServers(t *testing.T, db, config, repo string) (a, b *serverProc) {
	t.Helper()
	a, b = startServer(t, db, t.TempDir(), config), startServer(t, db, t.TempDir(), config)
	newProject(t, a, repo)
	return a, b
}

// runUntil runs shop's main branch on s and returns the pipeline once its
// job has created file.
func (s *serverProc) runUntil(t *testing.T, file string) pipeline {
	t.Helper()
	var p pipeline
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p); code != 201 {
		t.Fatalf("run on %s: %d", s.url, code)
	}
	waitForFile(t, s, p.ID, file)
	return p
}

// waitForFile waits for a job to create path (it runs, then).
func waitForFile(t *testing.T, s *serverProc, id int64, path string) {
	t.Helper()
	s.waitPipeline(id, func(p pipeline) bool {
		_, err := os.Stat(path)
		return err == nil || finished(p)
	})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the job did not start: %v", err)
	}
}

// TestTwoServersOneDatabase: two servers on one PostgreSQL each run a long
// job; one is killed and restarts. Its own job is failed at once, the
// other server's keeps running and succeeds.
func TestTwoServersOneDatabase(t *testing.T) {
	db := storetest.PostgresURL(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "go-on")
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`
long:
  script:
    - touch %[1]s/started-$CI_PIPELINE_IID
    - while [ ! -f %[2]s ]; do sleep 0.05; done
    - echo done
`, dir, gate)})
	a, b := twoServers(t, db, "", repo)
	dataA, dataB := a.dataDir, b.dataDir
	onA := a.runUntil(t, filepath.Join(dir, "started-1"))
	onB := b.runUntil(t, filepath.Join(dir, "started-2"))

	b.kill()
	b2 := startServer(t, db, dataB, "") // answers once it has recovered
	if p := b2.waitPipeline(onB.ID, finished); p.Status != "failed" || p.job("long").FailureReason != "runner_system_failure" {
		t.Errorf("B's own pipeline after its restart = %s %+v; want failed, runner_system_failure", p.Status, p.Jobs)
	}
	var p pipeline
	b2.do("GET", fmt.Sprintf("/api/pipelines/%d", onA.ID), nil, &p)
	if j := p.job("long"); p.Status != "running" || j.Status != "running" || j.Runner != serverName(t, dataA) {
		t.Fatalf("A's pipeline after B's restart = %s %+v; want its job running on %s", p.Status, p.Jobs, serverName(t, dataA))
	}

	os.WriteFile(gate, nil, 0o644)
	p = a.waitPipeline(onA.ID, finished)
	if p.Status != "success" || p.job("long").Status != "success" {
		t.Errorf("A's pipeline = %s %q %+v; want success", p.Status, p.Error, p.Jobs)
	}
	if log := a.text(fmt.Sprintf("/api/jobs/%d/log", p.job("long").ID)); !strings.Contains(log, "done") {
		t.Errorf("A's job log: %q", log)
	}
}

// TestDeadServerWorkIsReaped: a server killed for good leaves a running
// job; once its heartbeat is older than the grace period, the other server
// fails the job and, as its retry:when allows, runs it again.
func TestDeadServerWorkIsReaped(t *testing.T) {
	db := storetest.PostgresURL(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("heartbeat_interval: 200ms\nheartbeat_grace: 3s\n"), 0o644)
	marker := filepath.Join(dir, "first-attempt")
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`
job:
  retry:
    max: 1
    when: [runner_system_failure]
  script:
    - test -f %[1]s && echo second attempt && exit 0
    - touch %[1]s
    - sleep 600
`, marker)})
	a, b := twoServers(t, db, config, repo)
	dataB := b.dataDir
	p := a.runUntil(t, marker)
	a.do("GET", fmt.Sprintf("/api/pipelines/%d", p.ID), nil, &p)
	firstID := p.job("job").ID
	a.kill()

	p = b.waitPipeline(p.ID, func(p pipeline) bool { return finished(p) && p.job("job").Attempt == 2 })
	var first job
	b.do("GET", fmt.Sprintf("/api/jobs/%d", firstID), nil, &first)
	if first.Status != "failed" || first.FailureReason != "runner_system_failure" || !strings.Contains(first.Error, "no heartbeat") {
		t.Errorf("the dead server's attempt = %+v; want failed, runner_system_failure, no heartbeat", first)
	}
	retried := p.job("job")
	if p.Status != "success" || retried.Status != "success" || retried.Runner != serverName(t, dataB) {
		t.Errorf("pipeline %s, retried job %+v; want success on %s", p.Status, retried, serverName(t, dataB))
	}
	if log := b.text(fmt.Sprintf("/api/jobs/%d/log", retried.ID)); !strings.Contains(log, "second attempt") {
		t.Errorf("retried job's log: %q", log)
	}
}

// A grace period shorter than two heartbeats would fail the jobs of
// servers that are merely late: the server refuses it.
func TestHeartbeatGraceTooShort(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("heartbeat_interval: 10s\nheartbeat_grace: 15s\n"), 0o644)
	out, err := exec.Command(slipwayBin, "serve", "--config", config, "--data", dir, "--listen", testenv.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "heartbeat_grace 15s: want at least two heartbeat_interval") {
		t.Errorf("serve with a 15s grace for 10s heartbeats: %v\n%s", err, out)
	}
}

// Two live servers under one server_name would each take the other's rows
// for their own killed past and fail its jobs: the second is refused while
// the first runs. A clean stop frees the name at once, and a killed
// server's name is taken again by its restart (its process is gone).
func TestServerNameOfALiveServerIsRefused(t *testing.T) {
	db := storetest.PostgresURL(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("heartbeat_interval: 200ms\nheartbeat_grace: 3s\n"), 0o644)
	name := []string{"--config", config, "--server-name", "twin"}
	a := startServerArgs(t, db, t.TempDir(), name...)
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [sleep 600]\n"})
	newProject(t, a, repo)
	var running pipeline
	if code := a.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &running); code != 201 {
		t.Fatalf("run: %d", code)
	}
	a.waitPipeline(running.ID, func(p pipeline) bool { return p.job("job").Status == "running" })

	args := append([]string{"serve", "--data", t.TempDir(), "--database", db, "--listen", testenv.FreeAddr(t)}, name...)
	// A second twin that starts serves until killed: give it a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, slipwayBin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `server_name "twin": another server of that name is running`) {
		t.Fatalf("second server named twin: %v\n%s", err, out)
	}
	a.do("GET", fmt.Sprintf("/api/pipelines/%d", running.ID), nil, &running)
	if j := running.job("job"); j.Status != "running" {
		t.Errorf("the first server's job after the refused start: %+v, want still running", j)
	}

	a.kill()
	restarted := a.restart()
	restarted.stop()
	if restarted.cmd.ProcessState == nil || !restarted.cmd.ProcessState.Success() {
		t.Fatalf("restart after a kill did not run and stop cleanly: %v\n%s", restarted.cmd.ProcessState, restarted.stderr)
	}
	// Stopped cleanly: the name is free, nothing to wait for.
	startServerArgs(t, db, t.TempDir(), name...)
}
