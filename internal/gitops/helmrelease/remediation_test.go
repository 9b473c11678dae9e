//go:build kube

package helmrelease_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/helmrelease/helmtest"
	gkube "github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

func noData(context.Context, string, string) (map[string]string, bool, error) { return nil, false, nil }

// TestHelmTestHooksAndRemediation: with test enabled the chart's test pod
// runs after each install and upgrade; an upgrade whose test fails is
// rolled back and tried again as often as upgrade.remediation.retries
// says, then not again until the values change; the uninstall strategy
// and a failed install's test leave no release, and the failures are
// counted.
func TestHelmTestHooksAndRemediation(t *testing.T) {
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	cl, err := gkube.Connect(gkube.Target{Kubeconfig: kubetest.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &helmrelease.Releaser{Kubeconfig: kubetest.Kubeconfig(), Log: slog.New(slog.DiscardHandler)}
	spec := helmrelease.Spec{ReleaseName: "web", Namespace: ns, RepoURL: helmtest.ChartRepo(t, "4.0.3"), Chart: "web",
		Test: true, UpgradeRetries: 1, Timeout: 90 * time.Second}
	t.Cleanup(func() { r.Uninstall("web", ns, time.Minute) })
	revisions := func() int {
		hist, err := action.NewHistory(helmConfig(t, ns)).Run("web")
		if err != nil {
			return 0
		}
		return len(hist)
	}

	res, err := r.Reconcile(ctx, spec, noData, helmrelease.Failures{})
	if err != nil || res.Action != "installed" || res.Revision != 1 || res.UpgradeFailures != 0 {
		t.Fatalf("install: %v %+v", err, res)
	}
	var pod corev1.Pod
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-test"}, &pod); err != nil || pod.Status.Phase != corev1.PodSucceeded {
		t.Errorf("test pod after the install: %v %s", err, pod.Status.Phase)
	}

	// The test fails: rolled back, tried once more, rolled back again.
	bad := spec
	bad.Values = map[string]any{"testExit": 3}
	res, err = r.Reconcile(ctx, bad, noData, res.Failures)
	if err == nil || !strings.Contains(err.Error(), "Pod/web-test") {
		t.Errorf("a failing test's error should name its pod: %v", err)
	}
	if res.Action != "rolled back" || res.UpgradeFailures != 2 || res.Status != "deployed" || res.Revision != 5 || revisions() != 5 {
		t.Fatalf("after the failing test: %+v, %d revisions", res, revisions())
	}
	if !strings.Contains(res.Summary(), "2 failed upgrade(s)") {
		t.Errorf("summary: %s", res.Summary())
	}

	// The retries are spent: the next pass tries nothing.
	again, err := r.Reconcile(ctx, bad, noData, res.Failures)
	if !errors.Is(err, helmrelease.ErrRetriesExhausted) || again.UpgradeFailures != 2 || again.Revision != 5 || revisions() != 5 {
		t.Fatalf("pass with the retries spent: %v %+v, %d revisions", err, again, revisions())
	}

	// New values are a new target: tried, and they pass.
	good := spec
	good.Values = map[string]any{"env": map[string]any{"MESSAGE": "fixed"}}
	res, err = r.Reconcile(ctx, good, noData, again.Failures)
	if err != nil || res.Action != "upgraded" || res.Revision != 6 || res.UpgradeFailures != 0 {
		t.Fatalf("upgrade to new values: %v %+v", err, res)
	}

	// strategy: uninstall, no retry.
	un := bad
	un.UpgradeRetries, un.UpgradeStrategy = 0, helmrelease.StrategyUninstall
	res, err = r.Reconcile(ctx, un, noData, res.Failures)
	if err == nil || res.Action != "uninstalled" || res.UpgradeFailures != 1 || res.Revision != 0 {
		t.Fatalf("failed upgrade, uninstall strategy: %v %+v", err, res)
	}
	if _, err := r.Status("web", ns); err == nil {
		t.Errorf("the release is still there after its uninstall")
	}

	// No release: the next pass installs; the test fails; uninstalled
	// (install.remediation.retries 0), then not tried again.
	res, err = r.Reconcile(ctx, un, noData, res.Failures)
	if err == nil || !strings.Contains(err.Error(), "Pod/web-test") || res.Action != "uninstalled" || res.InstallFailures != 1 {
		t.Fatalf("install whose test fails: %v %+v", err, res)
	}
	res, err = r.Reconcile(ctx, un, noData, res.Failures)
	if !errors.Is(err, helmrelease.ErrRetriesExhausted) || res.Action != "" || res.InstallFailures != 1 {
		t.Fatalf("install with the retries spent: %v %+v", err, res)
	}
	if _, err := r.Status("web", ns); err == nil {
		t.Errorf("a release was installed with the retries spent")
	}
}

// TestHelmReleaseLeftPendingIsTakenOver: a revision left pending-upgrade
// (what Helm writes first, and leaves when its process is killed in the
// middle) blocks every Helm action; a pending revision as young as the
// timeout is left to whoever runs it, an older one is marked failed and
// the pass upgrades past it.
func TestHelmReleaseLeftPendingIsTakenOver(t *testing.T) {
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	ctx := context.Background()
	r := &helmrelease.Releaser{Kubeconfig: kubetest.Kubeconfig(), Log: slog.New(slog.DiscardHandler)}
	spec := helmrelease.Spec{ReleaseName: "web", Namespace: ns, RepoURL: helmtest.ChartRepo(t, "4.0.3"), Chart: "web", Timeout: time.Minute}
	t.Cleanup(func() { r.Uninstall("web", ns, time.Minute) })
	if _, err := r.Reconcile(ctx, spec, noData, helmrelease.Failures{}); err != nil {
		t.Fatal(err)
	}
	cfg := helmConfig(t, ns)
	l, err := cfg.Releases.Last("web")
	if err != nil {
		t.Fatal(err)
	}
	pending := *l.(*release.Release)
	info := *pending.Info
	pending.Info, pending.Version = &info, 2
	pending.SetStatus(rcommon.StatusPendingUpgrade, "Preparing upgrade")
	if err := cfg.Releases.Create(&pending); err != nil {
		t.Fatal(err)
	}
	changed := spec
	changed.Values = map[string]any{"env": map[string]any{"MESSAGE": "after"}}

	if _, err := r.Reconcile(ctx, changed, noData, helmrelease.Failures{}); err == nil || !strings.Contains(err.Error(), "pending-upgrade") {
		t.Fatalf("a fresh pending revision: %v", err)
	}
	info.LastDeployed = time.Now().Add(-time.Hour)
	if err := cfg.Releases.Update(&pending); err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(ctx, changed, noData, helmrelease.Failures{})
	if err != nil || res.Action != "upgraded" || res.Revision != 3 || res.Status != "deployed" {
		t.Fatalf("past an old pending revision: %v %+v", err, res)
	}
	hist, err := action.NewHistory(helmConfig(t, ns)).Run("web")
	if err != nil || len(hist) != 3 || hist[1].(*release.Release).Info.Status != rcommon.StatusFailed {
		t.Errorf("history: %v %d revisions", err, len(hist))
	}
}
