package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestGitopsDiffCommand: after a commit moving web to another image,
// `slipway gitops diff` prints that web would be updated and why, --json
// says the same as data, and the app still answers as before.
func TestGitopsDiffCommand(t *testing.T) {
	g := newGitopsSetup(t)
	one, two := g.push("one"), g.push("two")
	g.commit(gitopsApp(one, "0"))
	state := []string{"--config", g.cfg, "--state", "state"}
	out, errOut, code := slipway(t, g.dir, append([]string{"gitops", "reconcile", "--ports", "29500-29999"}, state...)...)
	if code != 0 {
		t.Fatalf("reconcile: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := slipway(t, g.dir, append([]string{"gitops", "diff"}, state...)...); code != 0 || !strings.Contains(out, "(docker) at") || !strings.Contains(out, "no change") {
		t.Errorf("diff with nothing new: exit %d\n%s\n%s", code, out, errOut)
	}
	g.commit(gitopsApp(two, "0"))

	out, errOut, code = slipway(t, g.dir, append([]string{"gitops", "diff", g.dep}, state...)...)
	if code != 0 || !strings.Contains(out, "  app web: updated: the desired spec changed (service web image "+strings.TrimSuffix(two, ":two")) {
		t.Errorf("diff: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = slipway(t, g.dir, append([]string{"gitops", "diff", "--json"}, state...)...)
	var diffs []gitops.DeploymentDiff
	if err := json.Unmarshal([]byte(out), &diffs); err != nil || code != 0 {
		t.Fatalf("diff --json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if len(diffs) != 1 || len(diffs[0].Changes) != 1 || diffs[0].Changes[0].Action != gitops.DiffUpdated {
		t.Errorf("diff --json: %+v", diffs)
	}
	if got := gitopsAnswer(t, mustStatus(t, g.dir)); got != "one" {
		t.Errorf("web answers %q after diff, want one (diff changes nothing)", got)
	}
}

// mustStatus is what `slipway gitops status` prints for the state folder.
func mustStatus(t *testing.T, dir string) string {
	t.Helper()
	out, errOut, code := slipway(t, dir, "gitops", "status", "--state", "state")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	return out
}
