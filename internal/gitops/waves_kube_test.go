//go:build kube

package gitops_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// jobManifest is a busybox Job running script once, with annotations.
func jobManifest(name, script string, annotations ...string) string {
	ann := ""
	for i := 0; i+1 < len(annotations); i += 2 {
		ann += fmt.Sprintf("    %s: %q\n", annotations[i], annotations[i+1])
	}
	if ann != "" {
		ann = "  annotations:\n" + ann
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
%sspec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: %s
          imagePullPolicy: Never
          command: ["sh", "-c", %q]
`, name, ann, kubetest.BusyboxImage, script)
}

// inWave is a manifest with Argo CD's sync-wave annotation added.
func inWave(manifest string, wave int) string {
	return strings.Replace(manifest, "metadata:\n", fmt.Sprintf("metadata:\n  annotations:\n    argocd.argoproj.io/sync-wave: %q\n", fmt.Sprint(wave)), 1)
}

func (k *kubeFixture) job(name string) (*batchv1.Job, error) {
	var j batchv1.Job
	err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &j)
	return &j, err
}

// TestKubeWavesAndHooks: Argo CD's sync waves and hook Jobs on the real
// cluster. A PreSync Job runs first and a PostSync Job last, waves in
// between in order; a pass over the same revision runs no hook; a failing
// PreSync Job stops the pass before anything is written, naming the Job
// and its pod's exit code; a wave that does not become healthy keeps the
// next one from being applied; hooks are never pruned.
func TestKubeWavesAndHooks(t *testing.T) {
	k := newKubeFixture(t)
	presync := func(script string) string {
		return jobManifest("migrate", script, "argocd.argoproj.io/hook", "PreSync")
	}
	src := newSource(t, map[string]string{
		"apps/migrate.yaml": presync("echo migrated"),
		"apps/first.yaml":   inWave(configMapManifest("first", "one"), -1),
		"apps/web.yaml":     webManifest("web", 1),
		"apps/last.yaml":    inWave(configMapManifest("last", "x"), 1),
		"apps/smoke.yaml": jobManifest("smoke", "echo ok", "argocd.argoproj.io/hook", "PostSync",
			"argocd.argoproj.io/hook-delete-policy", "HookSucceeded"),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
      timeout: 2m
`))
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	var order []string
	for _, o := range st.Objects {
		order = append(order, o.Kind+"/"+o.Name)
	}
	want := []string{"Job/migrate", "ConfigMap/first", "Deployment/web", "ConfigMap/last", "Job/smoke"}
	if !slices.Equal(order, want) {
		t.Errorf("order of the pass: %v, want %v", order, want)
	}
	if o := objectStatus(t, st, "Job", "migrate"); o.Hook != "PreSync" || o.Health != "Current" {
		t.Errorf("the PreSync hook's status: %+v", o)
	}
	migrate, err := k.job("migrate")
	if err != nil || migrate.Status.Succeeded != 1 {
		t.Fatalf("the PreSync Job: %v %+v", err, migrate.Status)
	}
	if _, err := k.job("smoke"); !apierrors.IsNotFound(err) {
		t.Errorf("the PostSync Job is HookSucceeded: want it deleted once it succeeded, got %v", err)
	}
	for _, r := range st.Inventory {
		if r.Kind == "Job" {
			t.Errorf("a hook is in the inventory (prune would delete it): %v", r)
		}
	}

	// The same revision again: no hook runs.
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("second pass: %v\n%+v", err, st)
	}
	if again, err := k.job("migrate"); err != nil || again.UID != migrate.UID {
		t.Errorf("a pass over the same revision ran the PreSync hook again: %v", err)
	}

	// A failing PreSync hook: nothing of the commit is written.
	rev1 := st.AppliedRevision
	src.commit("failing migration", map[string]string{
		"apps/migrate.yaml": presync("echo cannot migrate >&2; exit 3"),
		"apps/first.yaml":   inWave(configMapManifest("first", "two"), -1),
	})
	st, err = reconcile(t, c, "apps")
	if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonHookFailed {
		t.Fatalf("failing PreSync hook: %v\n%+v", err, st)
	}
	for _, want := range []string{"PreSync hook Job/" + k.ns + "/migrate failed", "exit code 3"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q lacks %q", st.Message, want)
		}
	}
	if cm, err := k.configMap("first"); err != nil || cm.Data["value"] != "one" {
		t.Errorf("first changed although the PreSync hook failed: %v %v", cm.Data, err)
	}
	if st.AppliedRevision != rev1 {
		t.Errorf("applied revision moved to %s on a failed hook", st.AppliedRevision)
	}

	// A wave that does not become healthy: the next wave is not applied.
	src.commit("failing check", map[string]string{
		"apps/migrate.yaml": presync("echo migrated"),
		"apps/check.yaml":   inWave(jobManifest("check", "exit 1"), 2),
		"apps/after.yaml":   inWave(configMapManifest("after", "x"), 3),
	})
	st, err = reconcile(t, c, "apps")
	if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonHealthFailed || !strings.Contains(st.Message, "wave 2") {
		t.Fatalf("failing wave: %v\n%+v", err, st)
	}
	if cm, err := k.configMap("first"); err != nil || cm.Data["value"] != "two" {
		t.Errorf("first after its wave: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("after"); !apierrors.IsNotFound(err) {
		t.Errorf("wave 3 was applied although wave 2 failed: %v", err)
	}

	// Fixed, and the PreSync hook leaves git: it is not pruned.
	src.commit("fixed", map[string]string{
		"apps/migrate.yaml": "",
		// A Job's template is immutable: a new one replaces it.
		"apps/check.yaml":    "",
		"apps/check-ok.yaml": inWave(jobManifest("check-ok", "exit 0"), 2),
	})
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("fixed: %v\n%+v", err, st)
	}
	if _, err := k.configMap("after"); err != nil {
		t.Errorf("wave 3 after the fix: %v", err)
	}
	if _, err := k.job("migrate"); err != nil {
		t.Errorf("the PreSync hook left git and was pruned: %v", err)
	}
	if _, err := k.job("check"); !apierrors.IsNotFound(err) {
		t.Errorf("the failed check Job left git but was not pruned: %v", err)
	}
}

// TestKubeBadWaveAnnotationIsInvalid: a sync-wave that is no integer is
// refused with the object and the annotation named.
func TestKubeBadWaveAnnotationIsInvalid(t *testing.T) {
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{
		"apps/a.yaml": strings.Replace(inWave(configMapManifest("a", "x"), 0), `"0"`, `"first"`, 1),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`))
	st, err := reconcile(t, c, "apps")
	if err == nil || st.Reason != gitops.ReasonInvalid || !strings.Contains(st.Message, "ConfigMap/"+k.ns+"/a: annotation argocd.argoproj.io/sync-wave: want an integer") {
		t.Fatalf("bad wave: %v\n%+v", err, st)
	}
}
