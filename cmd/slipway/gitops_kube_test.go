//go:build kube

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// TestGitopsStatusTreeCLI: gitops reconcile and status print a
// Kubernetes deployment as a tree of its objects with their health, the
// PreSync hook marked, and the applied revision; --json has the same; a
// commit the API refuses shows as the last error.
func TestGitopsStatusTreeCLI(t *testing.T) {
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	hook := `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: main, image: ` + kubetest.BusyboxImage + `, imagePullPolicy: Never, command: [sh, -c, "echo migrated"]}
`
	work := testenv.GitRepo(t, map[string]string{
		"apps/migrate.yaml":  hook,
		"apps/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {value: one}\n",
	})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(cfg, []byte("sources: [{name: ops, url: "+work+"}]\n"+
		"deployments:\n  - name: apps\n    source: ops\n    path: apps\n"+
		"    kubernetes: {kubeconfig: "+kubetest.Kubeconfig()+", namespace: "+ns+", timeout: 2m}\n"), 0o644)
	rev := testenv.Git(t, work, "rev-parse", "HEAD")
	want := []string{
		"deployment apps: Ready (ReconciliationSucceeded) at " + rev[:12],
		"  applied: " + rev[:12] + "\n",
		"  ├─ Job/" + ns + "/migrate (PreSync hook): created, Current",
		"  └─ ConfigMap/" + ns + "/settings: created, Current",
	}
	out, errOut, code := slipway(t, dir, "gitops", "reconcile", "--config", cfg, "--state", "state")
	for _, w := range want {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("reconcile: exit %d, want %q in\n%s\n%s", code, w, out, errOut)
		}
	}
	status, _, _ := slipway(t, dir, "gitops", "status", "--state", "state")
	if status != out {
		t.Errorf("status prints\n%s\nreconcile printed\n%s", status, out)
	}
	js, _, _ := slipway(t, dir, "gitops", "status", "--state", "state", "--json")
	var all []gitops.DeploymentStatus
	if err := json.Unmarshal([]byte(js), &all); err != nil || len(all) != 1 || len(all[0].Objects) != 2 ||
		all[0].Objects[0].Hook != "PreSync" || all[0].Objects[1].Health != "Current" || all[0].AppliedRevision != rev {
		t.Errorf("status --json: %v\n%s", err, js)
	}

	os.WriteFile(filepath.Join(work, "apps/settings.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n"), 0o644)
	testenv.Git(t, work, "commit", "-qam", "a name the API refuses")
	out, _, code = slipway(t, dir, "gitops", "reconcile", "--config", cfg, "--state", "state")
	if code == 0 || !strings.Contains(out, "  applied: "+rev[:12]+"\n") || !strings.Contains(out, "  last error: ") || !strings.Contains(out, "Bad_Name") {
		t.Errorf("a refused commit: exit %d\n%s", code, out)
	}
}
