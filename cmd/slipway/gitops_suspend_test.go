package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestGitopsSuspendResumeCLI: gitops suspend and resume ask the server;
// the deployment's status says it is suspended until resumed; one the
// config suspends cannot be resumed from the CLI, and an unknown one is a
// 404.
func TestGitopsSuspendResumeCLI(t *testing.T) {
	ops := testenv.GitRepo(t, map[string]string{"apps/README": "no apps yet\n"})
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	if err := os.WriteFile(gitopsFile, []byte("sources: [{name: ops, url: "+ops+", interval: 1h}]\n"+
		"deployments:\n  - {name: prod, source: ops, path: apps, interval: 1h}\n"+
		"  - {name: frozen, source: ops, path: apps, interval: 1h, suspend: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, "gitops:\n  config: "+gitopsFile+"\n  state: "+filepath.Join(dir, "state")+"\n")
	if out := s.ok(t, "gitops", "suspend", "prod"); !strings.HasPrefix(out, "deployment prod: suspended: neither applied nor pruned") {
		t.Errorf("gitops suspend prod: %s", out)
	}
	var all []gitops.DeploymentStatus
	if err := json.Unmarshal([]byte(s.ok(t, "gitops", "suspend", "prod", "--json")), &all); err != nil || len(all) != 1 || !all[0].Suspended || all[0].Reason != gitops.ReasonSuspended {
		t.Errorf("gitops suspend prod --json: %v %+v", err, all)
	}
	if out := s.ok(t, "gitops", "resume", "prod"); !strings.HasPrefix(out, "deployment prod: resumed") {
		t.Errorf("gitops resume prod: %s", out)
	}
	var resumed []gitops.DeploymentStatus // suspended is left out when false: a fresh list
	if err := json.Unmarshal([]byte(s.ok(t, "gitops", "resume", "prod", "--json")), &resumed); err != nil || len(resumed) != 1 || resumed[0].Suspended {
		t.Errorf("gitops resume prod --json: %v %+v", err, resumed)
	}
	if _, errOut, code := s.cli(t, "", nil, "gitops", "resume", "frozen"); code != 1 || !strings.Contains(errOut, "409 Conflict") || !strings.Contains(errOut, "suspend: true") {
		t.Errorf("gitops resume of a deployment the config suspends: exit %d: %s", code, errOut)
	}
	if _, errOut, code := s.cli(t, "", nil, "gitops", "suspend", "staging"); code != 1 || !strings.Contains(errOut, "404 Not Found") {
		t.Errorf("gitops suspend of an unknown deployment: exit %d: %s", code, errOut)
	}
}
