//go:build kube

package gitops_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestKubeFailedUpgradeNotifiedOnceThenItsRecovery: an upgrade of a
// Deployment to an image the node does not have never becomes healthy;
// Slack hears of the failed deployment once over two passes, then of its
// recovery when git puts a good image back.
func TestKubeFailedUpgradeNotifiedOnceThenItsRecovery(t *testing.T) {
	k := newKubeFixture(t)
	slack := &recorder{}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	src := newSource(t, map[string]string{"apps/web.yaml": webManifest("web", 1)})
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(k.config(src, `  - name: apps
    source: ops
    path: apps
    notify:
      - {type: slack, url_env: TEST_SLACK_URL}
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
      timeout: 15s
`)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: t.TempDir(), Logger: quiet(),
		Getenv: func(string) string { return srv.URL + "/hooks/secret" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}

	broken := strings.Replace(webManifest("web", 1), "image: ", "image: slipway-test/no-such-image:1 # ", 1)
	src.commit("upgrade to an image the node lacks", map[string]string{"apps/web.yaml": broken})
	for range 2 {
		st, err := reconcile(t, c, "apps")
		if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonHealthFailed {
			t.Fatalf("failed upgrade: %v\n%+v", err, st)
		}
	}
	fix := src.commit("back to busybox", map[string]string{"apps/web.yaml": webManifest("web", 1)})
	if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("after the fix: %v\n%+v", err, st)
	}

	msgs := delivered(t, c, slack)
	if len(msgs) != 2 {
		t.Fatalf("Slack got %d messages, want 2 (the failure once, the recovery): %q", len(msgs), msgs)
	}
	if !strings.Contains(msgs[0], "deployment failed") || !strings.Contains(msgs[0], gitops.ReasonHealthFailed) || !strings.Contains(msgs[0], "gitops/apps") {
		t.Errorf("failure message does not say the deployment failed its health check: %s", msgs[0])
	}
	if !strings.Contains(msgs[1], "deployment passed") || !strings.Contains(msgs[1], "recovered from "+gitops.ReasonHealthFailed) || !strings.Contains(msgs[1], shortSHA(fix)) {
		t.Errorf("recovery message does not say the deployment recovered at the fix: %s", msgs[1])
	}
}
