//go:build kube

package gitops_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestKubeDependsOnWaitsForTheDependency: web depends on db (listed after
// it in the config). While db's commit fails, web is not applied and says
// it waits; once db is fixed, one pass makes both Ready, db first.
func TestKubeDependsOnWaitsForTheDependency(t *testing.T) {
	k := newKubeFixture(t)
	bad := webManifest("db", 1) + "  minReadySeconds: -5\n" // the API refuses it
	src := newSource(t, map[string]string{
		"db/db.yaml":   bad,
		"web/web.yaml": configMapManifest("web", "one"),
	})
	c, _ := k.controller(k.config(src, `  - name: web
    source: ops
    path: web
    dependsOn: [db]
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
  - name: db
    source: ops
    path: db
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`))
	web, err := reconcile(t, c, "web")
	if err == nil || web.Condition != gitops.Reconciling || web.Reason != gitops.ReasonDependencyNotReady || !strings.Contains(web.Message, "dependency db is Stalled") {
		t.Fatalf("web while db fails: %v\n%+v", err, web)
	}
	if _, err := k.configMap("web"); !apierrors.IsNotFound(err) {
		t.Errorf("web was applied although db is not Ready: %v", err)
	}
	src.commit("db fixed", map[string]string{"db/db.yaml": webManifest("db", 1)})
	all, err := c.ReconcileAll(t.Context())
	if err != nil {
		t.Fatalf("after the fix: %v\n%+v", err, all)
	}
	if all[0].Name != "web" || all[0].Condition != gitops.Ready || all[1].Condition != gitops.Ready || all[0].AppliedRevision != src.head() {
		t.Errorf("statuses after the fix (config order): %+v", all)
	}
	if _, err := k.configMap("web"); err != nil {
		t.Errorf("web after db became Ready: %v", err)
	}
}

// TestKubeSuspendAndResume: a suspended deployment applies neither a new
// commit nor prunes, and corrects no drift; its status says it is
// suspended. Resumed, the next pass catches up.
func TestKubeSuspendAndResume(t *testing.T) {
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{
		"apps/a.yaml": configMapManifest("a", "one"),
		"apps/b.yaml": configMapManifest("b", "x"),
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
	if err := c.Suspend("apps"); err != nil {
		t.Fatal(err)
	}
	src.commit("change a, drop b", map[string]string{"apps/a.yaml": configMapManifest("a", "two"), "apps/b.yaml": ""})
	st, err := reconcile(t, c, "apps")
	if err != nil || !st.Suspended || st.Reason != gitops.ReasonSuspended || !strings.Contains(st.Message, "suspended by slipway gitops suspend") {
		t.Fatalf("suspended pass: %v\n%+v", err, st)
	}
	if cm, err := k.configMap("a"); err != nil || cm.Data["value"] != "one" {
		t.Errorf("a suspended deployment applied a commit: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("b"); err != nil {
		t.Errorf("a suspended deployment pruned: %v", err)
	}
	if err := c.Resume("apps"); err != nil {
		t.Fatal(err)
	}
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Suspended || st.Condition != gitops.Ready || st.AppliedRevision != src.head() {
		t.Fatalf("resumed pass: %v\n%+v", err, st)
	}
	if cm, err := k.configMap("a"); err != nil || cm.Data["value"] != "two" {
		t.Errorf("a after resume: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("b"); !apierrors.IsNotFound(err) {
		t.Errorf("b after resume: %v", err)
	}
}
