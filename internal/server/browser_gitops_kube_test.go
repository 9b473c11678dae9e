//go:build kube

package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// TestBrowserGitopsKubernetesTree is the GitOps page in Chromium for a
// deployment onto the real cluster: it shows the deployment as a tree of
// its objects (Kind/namespace/name) with their health and what the pass
// did, the PreSync hook marked, and the applied revision; a commit the API
// refuses shows as the last error, the objects as they were.
func TestBrowserGitopsKubernetesTree(t *testing.T) {
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	tab := uiBrowser(t)
	artifacts := uiArtifacts(t)
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
		"apps/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {value: one}\n",
		"apps/migrate.yaml":  hook,
	})
	dep := fmt.Sprintf("k%x", time.Now().UnixNano()&0xffffff)
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(gitopsFile, []byte(fmt.Sprintf("sources: [{name: ops, url: %s, interval: 1h}]\n"+
		"deployments:\n  - name: %s\n    source: ops\n    path: apps\n    interval: 1h\n"+
		"    kubernetes: {kubeconfig: %s, namespace: %s, timeout: 2m}\n", work, dep, kubetest.Kubeconfig(), ns)), 0o644)
	s := uiServer(t, "", func(c *Config) { c.Gitops.Config = gitopsFile })
	rev1 := testenv.Git(t, work, "rev-parse", "HEAD")
	deadline := time.Now().Add(3 * time.Minute)
	for st := s.gitops.controller.Statuses()[0]; st.Condition != gitops.Ready || st.AppliedRevision != rev1; st = s.gitops.controller.Statuses()[0] {
		if time.Now().After(deadline) {
			t.Fatalf("deployment never Ready at %s: %+v", rev1, st)
		}
		time.Sleep(200 * time.Millisecond)
	}

	uiGo(t, tab, s.URL()+"/gitops")
	tree := `document.querySelector('#deployment-` + dep + ` ul.tree')`
	item := func(ref string) string { return tree + `.querySelector('li[data-object="` + ref + `"]')` }
	settings := item("ConfigMap/" + ns + "/settings")
	if got := uiEval[string](t, tab, settings+`.innerText`); !strings.Contains(got, "created") || !strings.Contains(got, "Current") {
		t.Errorf("the ConfigMap's branch: %q, want created and Current", got)
	}
	if got := uiEval[string](t, tab, item("Job/"+ns+"/migrate")+`.innerText`); !strings.Contains(got, "PreSync hook") || !strings.Contains(got, "Current") {
		t.Errorf("the hook's branch: %q, want a PreSync hook, Current", got)
	}
	if got := uiEval[string](t, tab, `document.querySelector('#deployment-`+dep+` code.applied').title`); got != rev1 {
		t.Errorf("applied revision on the page: %q, want %s", got, rev1)
	}
	uiScreenshot(t, tab, artifacts, "kubernetes-tree")

	os.WriteFile(filepath.Join(work, "apps/settings.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n"), 0o644)
	testenv.Git(t, work, "commit", "-qam", "a name the API refuses")
	if err := s.gitops.controller.Reconcile(dep); err != nil {
		t.Fatal(err)
	}
	// The page follows the pass by itself.
	lastError := `document.querySelector('#deployment-` + dep + ` .last-error')`
	uiPoll(t, tab, "the last error", lastError+` !== null && `+lastError+`.innerText.includes("Bad_Name")`, 3*time.Minute)
	if !uiEval[bool](t, tab, settings+` !== null`) {
		t.Errorf("the objects of the last good pass left the tree on a failed one")
	}
	uiScreenshot(t, tab, artifacts, "kubernetes-tree-error")
}
