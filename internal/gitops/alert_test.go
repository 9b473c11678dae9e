package gitops_test

import (
	"os"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestDeploymentFailureNotifiedOnceThenItsRecovery: a commit that loses
// the deployment's folder and then a source that cannot be fetched stall
// the whole deployment for three passes; Slack hears of it once, and once
// more when a fix pushed to git makes it Ready again.
func TestDeploymentFailureNotifiedOnceThenItsRecovery(t *testing.T) {
	f := newFixture(t)
	c, src, slack := f.notifiedWeb()
	dep := f.name
	if _, err := reconcile(t, c, dep); err != nil {
		t.Fatal(err)
	}

	src.commit("move the apps by mistake", map[string]string{"apps": "", "other/web/compose.yaml": appCompose(f.im.ref("v1"))})
	for range 2 {
		st, err := reconcile(t, c, dep)
		if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonSourceFailed {
			t.Fatalf("after the folder left git: %s %s %q (err %v), want Stalled SourceFailed", st.Condition, st.Reason, st.Message, err)
		}
	}
	moved := src.bare + ".away"
	if err := os.Rename(src.bare, moved); err != nil {
		t.Fatal(err)
	}
	st, err := reconcile(t, c, dep)
	if err := os.Rename(moved, src.bare); err != nil {
		t.Fatal(err)
	}
	if err == nil || st.Reason != gitops.ReasonSourceFailed {
		t.Fatalf("with the source unreachable: %s %s %q, want SourceFailed", st.Condition, st.Reason, st.Message)
	}

	fix := src.commit("put the apps back", map[string]string{"other": "", "apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	for range 2 {
		if st, err := reconcile(t, c, dep); err != nil || st.Condition != gitops.Ready {
			t.Fatalf("after the fix: %s %s %q (err %v), want Ready", st.Condition, st.Reason, st.Message, err)
		}
	}

	msgs := delivered(t, c, slack)
	if len(msgs) != 3 {
		t.Fatalf("Slack got %d messages, want 3 (the deploy, the failure once, the recovery): %q", len(msgs), msgs)
	}
	failed, recovered := msgs[1], msgs[2]
	if !strings.Contains(failed, "deployment failed") || !strings.Contains(failed, "SourceFailed") ||
		!strings.Contains(failed, `has no folder \"apps\"`) || !strings.Contains(failed, "gitops/"+dep) {
		t.Errorf("failure message does not say the deployment failed and why: %s", failed)
	}
	if !strings.Contains(recovered, "deployment passed") || !strings.Contains(recovered, "recovered from SourceFailed") ||
		!strings.Contains(recovered, shortSHA(fix)) {
		t.Errorf("recovery message does not say the deployment recovered at the fix: %s", recovered)
	}
}
