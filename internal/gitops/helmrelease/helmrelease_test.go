//go:build kube

package helmrelease_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/helmrelease/helmtest"
	gkube "github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

func flags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(false)
	k := kubetest.Kubeconfig()
	f.KubeConfig = &k
	return f
}

// helmConfig is what the helm command itself builds: the test looks at
// the release through it, as `helm list`/`helm history` would.
func helmConfig(t *testing.T, ns string) *action.Configuration {
	t.Helper()
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	fl := flags()
	fl.Namespace = &ns
	if err := cfg.Init(fl, ns, "secret"); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestHelmReleaseFromARepositoryRange: a range 4.0.x installs 4.0.3, the
// newest; valuesFrom a Secret with targetPath reaches the rendered
// Deployment; a pass with nothing new writes no revision; a failed
// upgrade is rolled back; helm's own list, history and rollback see and
// handle the release; uninstall removes it.
func TestHelmReleaseFromARepositoryRange(t *testing.T) {
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	cl, err := gkube.Connect(gkube.Target{Kubeconfig: kubetest.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := func(ctx context.Context, kind, name string) (map[string]string, bool, error) {
		d, err := cl.Data(ctx, kind, name)
		if err != nil && strings.Contains(err.Error(), gkube.ErrNotFound.Error()) {
			return nil, false, nil
		}
		return d, err == nil, err
	}
	secret := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web-env"},"stringData":{"message":"from the secret, with, commas"}}`
	if err := kubetest.Cluster(t).Apply(ctx, "/api/v1/namespaces/"+ns+"/secrets/web-env", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	r := &helmrelease.Releaser{Kubeconfig: kubetest.Kubeconfig(), Log: slog.New(slog.DiscardHandler)}
	spec := helmrelease.Spec{
		ReleaseName: "web", Namespace: ns, RepoURL: helmtest.ChartRepo(t, "4.0.2", "4.0.3", "4.1.0"), Chart: "web", Version: "4.0.x",
		ValuesFrom: []helmrelease.ValuesFrom{
			{Kind: "Secret", Name: "web-env", ValuesKey: "message", TargetPath: "env.MESSAGE"},
			{Kind: "ConfigMap", Name: "absent", Optional: true},
		},
		Timeout: 90 * time.Second,
	}
	t.Cleanup(func() { r.Uninstall("web", ns, time.Minute) })

	res, err := r.Reconcile(ctx, spec, data, helmrelease.Failures{})
	if err != nil || res.Action != "installed" || res.ChartVersion != "4.0.3" || res.Revision != 1 {
		t.Fatalf("install: %v %+v", err, res)
	}
	var d appsv1.Deployment
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["MESSAGE"] != "from the secret, with, commas" || env["CHART"] != "4.0.3" || d.Status.AvailableReplicas != 1 {
		t.Errorf("rendered Deployment: env %v, available %d", env, d.Status.AvailableReplicas)
	}

	if res, err := r.Reconcile(ctx, spec, data, helmrelease.Failures{}); err != nil || res.Action != "unchanged" || res.Revision != 1 {
		t.Errorf("pass without change: %v %+v", err, res)
	}

	// An upgrade whose pods can never start: rolled back.
	bad := spec
	bad.Values = map[string]any{"image": "slipway.local/absent:never"}
	bad.Timeout = 15 * time.Second
	res, err = r.Reconcile(ctx, bad, data, helmrelease.Failures{})
	if err == nil || res.Action != "rolled back" || res.Status != "deployed" || res.Revision != 3 {
		t.Fatalf("failed upgrade: %v %+v", err, res)
	}

	// helm list / history / rollback, from Helm's own actions.
	cfg := helmConfig(t, ns)
	list := action.NewList(cfg)
	rels, err := list.Run()
	if err != nil || len(rels) != 1 || rels[0].(*release.Release).Name != "web" {
		t.Fatalf("helm list: %v %v", err, rels)
	}
	hist, err := action.NewHistory(cfg).Run("web")
	if err != nil || len(hist) != 3 {
		t.Fatalf("helm history: %v, %d revisions", err, len(hist))
	}
	var statuses []string
	for _, h := range hist {
		rel := h.(*release.Release)
		statuses = append(statuses, fmt.Sprintf("%d:%s", rel.Version, rel.Info.Status))
	}
	if got := strings.Join(statuses, " "); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("helm history: %s", got)
	}
	rb := action.NewRollback(cfg)
	rb.Version, rb.WaitStrategy, rb.Timeout = 2, kube.HookOnlyStrategy, time.Minute
	if err := rb.Run("web"); err != nil {
		t.Fatalf("helm rollback to 2: %v", err)
	}
	// Slipway sees the hand-made rollback as drift from git and puts back
	// what git asks for.
	res, err = r.Reconcile(ctx, spec, data, helmrelease.Failures{})
	if err != nil || res.Action != "upgraded" || res.Revision != 5 || res.ChartVersion != "4.0.3" {
		t.Errorf("after helm's rollback: %v %+v", err, res)
	}

	if err := r.Uninstall("web", ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	if rels, err := action.NewList(helmConfig(t, ns)).Run(); err != nil || len(rels) != 0 {
		t.Errorf("after uninstall helm list shows %v (%v)", rels, err)
	}
}
