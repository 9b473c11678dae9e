package gitops_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestSuspendedByConfigIsNeverApplied: a deployment with suspend: true
// is not applied (its cluster is never contacted: the kubeconfig does not
// exist), a pass is no failure, its status says so, and only the config
// can resume it.
func TestSuspendedByConfigIsNeverApplied(t *testing.T) {
	src := newSource(t, map[string]string{"apps/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(`sources:
  - name: ops
    url: `+src.bare+`
deployments:
  - name: apps
    source: ops
    path: apps
    suspend: true
    kubernetes:
      kubeconfig: /nonexistent/kubeconfig
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	all, err := c.ReconcileAll(context.Background())
	if err != nil || !all[0].Suspended || all[0].Reason != gitops.ReasonSuspended || !strings.Contains(all[0].Message, "suspend: true") {
		t.Fatalf("pass: %v\n%+v", err, all)
	}
	if st := c.Statuses()[0]; !st.Suspended {
		t.Errorf("saved status: %+v", st)
	}
	if err := c.Resume("apps"); !errors.Is(err, gitops.ErrSuspendedByConfig) {
		t.Errorf("resume of a deployment the config suspends: %v", err)
	}
	if err := c.Suspend("nope"); !errors.Is(err, gitops.ErrUnknownDeployment) {
		t.Errorf("suspend of an unknown deployment: %v", err)
	}
}
