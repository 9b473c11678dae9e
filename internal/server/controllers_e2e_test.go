package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestStopSurvivesAServerKill: a merge request merged while the pipeline
// that deployed its environment still runs leaves the environment stopping;
// the server is killed (kill -9) before that pipeline ends. After the
// restart the pipeline is failed by the recovery, and the stop controller
// plays the stop job, which stops the environment: nothing is left.
func TestStopSurvivesAServerKill(t *testing.T) {
	never := filepath.Join(t.TempDir(), "never")
	s, proxyAddr, sha := webProjectPipeline(t, busyReviewPipeline(never))
	p, e := openWhileSmokeRuns(t, s, "feature/crash", sha)
	host := e.host("")

	mergeRequest(t, s, 1, "merge", "feature/crash", sha)
	if st := s.environment(e.Name).State; st != "stopping" {
		t.Fatalf("environment %s while its pipeline runs, want stopping", st)
	}
	s.kill()

	s2 := s.restart()
	if st := s2.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("environment %s after the restart, want stopped\n%s", st, s2.jobReport(p.ID, "stop"))
	}
	after := s2.waitJobDone(p.ID, "stop")
	if stop := after.job("stop"); stop.Status != "success" {
		t.Errorf("stop job = %s, want success\n%s", stop.Status, s2.jobReport(p.ID, "stop"))
	}
	if smoke := after.job("smoke"); smoke.Status != "failed" || smoke.FailureReason != "runner_system_failure" {
		t.Errorf("smoke = %s (%s), want failed by the restart", smoke.Status, smoke.FailureReason)
	}
	checkNothingLeft(t, s2, e, proxyAddr, host)
}

// TestLostStopJobLeavesStopFailed: the server is killed while the stop job
// runs; after the restart the job is failed (runner_system_failure) and the
// environment is stop_failed, with its resources, never stopping for ever.
// Stopping it again works.
func TestLostStopJobLeavesStopFailed(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "stop-started"), filepath.Join(dir, "may-stop")
	s, proxyAddr, sha := webProjectStop(t, "1 day",
		fmt.Sprintf(`["touch %s", "while [ ! -f %s ]; do sleep 0.1; done", slipway env stop]`, started, gate), 1)
	p := mergeRequest(t, s, 1, "open", "feature/lost", sha)
	p = s.waitPipeline(p.ID, finished)
	if p.job("deploy").Status != "success" {
		t.Fatalf("deploy: %s", s.jobReport(p.ID, "deploy"))
	}
	e := s.environment("review/feature-lost")
	host := e.host("")
	if code := s.do("POST", fmt.Sprintf("/api/environments/%d/stop", e.ID), nil, nil); code >= 300 {
		t.Fatalf("stop: %d", code)
	}
	waitForFile(t, s, p.ID, started)
	s.kill()

	s2 := s.restart()
	if st := s2.waitEnvironment(e.Name, "stop_failed", "stopped", "available"); st != "stop_failed" {
		t.Fatalf("environment %s after its stop job was lost, want stop_failed\n%s", st, s2.jobReport(p.ID, "stop"))
	}
	if stop := s2.waitPipeline(p.ID, finished).job("stop"); stop.Status != "failed" || stop.FailureReason != "runner_system_failure" {
		t.Errorf("lost stop job = %s (%s), want failed, runner_system_failure", stop.Status, stop.FailureReason)
	}
	// Its containers are kept, and the restarted server's proxy routes to them.
	f := client.Filters{}.Add("label", "slipway.env="+e.HostKey)
	if cs, err := testenv.Docker(t).ContainerList(context.Background(), client.ContainerListOptions{Filters: f}); err != nil || len(cs.Items) != 1 {
		t.Errorf("running containers of the environment after a lost stop: %d %v, want 1", len(cs.Items), err)
	}
	if code, body, err := viaProxy(proxyAddr, host, "/"); code != 200 {
		t.Errorf("GET %s through the restarted proxy: %d %q %v, want 200", host, code, body, err)
	}

	os.WriteFile(gate, nil, 0o644)
	if code := s2.do("POST", fmt.Sprintf("/api/environments/%d/stop", e.ID), nil, nil); code >= 300 {
		t.Fatalf("stop again: %d", code)
	}
	if st := s2.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("environment %s after stopping again, want stopped\n%s", st, s2.jobReport(p.ID, "stop"))
	}
	checkNothingLeft(t, s2, e, proxyAddr, host)
}

// TestCancelOnAnotherServer: with two servers on one PostgreSQL, a cancel
// sent to B for a pipeline A runs is accepted (202) and recorded; A cancels
// its run on its next heartbeat: the job and the pipeline end canceled. A
// cancel of a pipeline that is over is refused (409), by either server.
func TestCancelOnAnotherServer(t *testing.T) {
	db := storetest.PostgresURL(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("heartbeat_interval: 200ms\nheartbeat_grace: 3s\n"), 0o644)
	started := filepath.Join(dir, "started")
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`
long:
  script:
    - touch %s
    - sleep 600
`, started)})
	a, b := twoServers(t, db, config, repo)
	dataA := a.dataDir
	p := a.runUntil(t, started)

	var asked struct {
		pipeline
		CancelRequestedAt *time.Time `json:"cancel_requested_at"`
	}
	if code := b.do("POST", fmt.Sprintf("/api/pipelines/%d/cancel", p.ID), nil, &asked); code != http.StatusAccepted {
		t.Fatalf("cancel sent to B: %d, want 202", code)
	}
	if asked.ID != p.ID || asked.CancelRequestedAt == nil {
		t.Errorf("B's answer %+v: want the pipeline with its cancel request", asked)
	}
	p = a.waitPipeline(p.ID, finished)
	if j := p.job("long"); p.Status != "canceled" || j.Status != "canceled" || j.Runner != serverName(t, dataA) {
		t.Errorf("after the cancel sent to B: pipeline %s, job %+v; want both canceled, on A", p.Status, j)
	}
	for _, s := range []*serverProc{a, b} {
		if code := s.do("POST", fmt.Sprintf("/api/pipelines/%d/cancel", p.ID), nil, nil); code != http.StatusConflict {
			t.Errorf("cancel of a canceled pipeline: %d, want 409", code)
		}
	}
	if log := a.text(fmt.Sprintf("/api/jobs/%d/log", p.job("long").ID)); strings.Contains(log, "Job succeeded") {
		t.Errorf("the canceled job's log says it succeeded: %q", log)
	}
}
