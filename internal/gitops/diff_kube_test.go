//go:build kube

package gitops_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestKubeDiffIsAServerSideDryRun: after a commit that changes one
// ConfigMap, adds one, removes one and adds an object the API refuses,
// diff says configured, created, pruned, unchanged and invalid per object
// from a server-side dry-run, and the cluster holds what it held.
func TestKubeDiffIsAServerSideDryRun(t *testing.T) {
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{
		"apps/settings.yaml": configMapManifest("settings", "one"),
		"apps/old.yaml":      configMapManifest("old", "x"),
		"apps/web.yaml":      webManifest("web", 1),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`))
	if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	head := src.commit("change", map[string]string{
		"apps/settings.yaml": configMapManifest("settings", "two"),
		"apps/new.yaml":      configMapManifest("new", "y"),
		"apps/old.yaml":      "",
		"apps/bad.yaml":      strings.Replace(webManifest("bad", 1), "spec:\n  replicas", "spec:\n  minReadySeconds: -5\n  replicas", 1),
	})

	diffs, err := c.Diff(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].Revision != head || diffs[0].Error != "" || diffs[0].Target != gitops.TargetKubernetes {
		t.Fatalf("diff: %+v", diffs)
	}
	got := map[string]gitops.Change{}
	for _, ch := range diffs[0].Changes {
		got[ch.Name] = ch
	}
	for name, want := range map[string]string{
		"ConfigMap/" + k.ns + "/settings": "configured",
		"ConfigMap/" + k.ns + "/new":      "created",
		"ConfigMap/" + k.ns + "/old":      gitops.DiffPruned,
		"Deployment/" + k.ns + "/web":     "unchanged",
		"Deployment/" + k.ns + "/bad":     gitops.DiffInvalid,
	} {
		if ch := got[name]; ch.Action != want {
			t.Errorf("%s: %+v, want %s", name, ch, want)
		}
	}
	if ch := got["Deployment/"+k.ns+"/bad"]; !strings.Contains(ch.Why, "minReadySeconds") {
		t.Errorf("the refused object's message does not name the field: %q", ch.Why)
	}
	if cm, err := k.configMap("settings"); err != nil || cm.Data["value"] != "one" {
		t.Errorf("diff changed settings: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("new"); !apierrors.IsNotFound(err) {
		t.Errorf("diff created new: %v", err)
	}
	if _, err := k.configMap("old"); err != nil {
		t.Errorf("diff pruned old: %v", err)
	}
}
