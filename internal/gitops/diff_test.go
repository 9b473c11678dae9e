package gitops_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestDiffOnADockerHostChangesNothing: after a commit that moves one app
// to v2, adds one, removes one and breaks one, diff names each app with
// what a pass would do and why, while the containers and the status file
// stay as they were; the pass that follows does what diff said.
func TestDiffOnADockerHostChangesNothing(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{
		"apps/web/compose.yaml":  appCompose(f.im.ref("v1")),
		"apps/old/compose.yaml":  appCompose(f.im.ref("v1")),
		"apps/same/compose.yaml": appCompose(f.im.ref("v1")),
	})
	c := f.controller(f.config(src, "  - {name: "+f.name+", source: ops, path: apps, prune: true}\n"), nil)
	if _, err := reconcile(t, c, f.name); err != nil {
		t.Fatal(err)
	}
	before := f.containers(f.name, "web")
	statusFile := filepath.Join(f.state, "status", f.name+".json")
	saved, err := os.ReadFile(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	head := src.commit("v2, new, no old, bad", map[string]string{
		"apps/web/compose.yaml": appCompose(f.im.ref("v2")),
		"apps/new/compose.yaml": appCompose(f.im.ref("v1")),
		"apps/old":              "",
		"apps/bad/compose.yaml": "services:\n  web:\n    image: " + f.im.ref("v1") + "\n    x-slipway: {port: high}\n",
	})

	diffs, err := c.Diff(t.Context(), f.name)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].Revision != head || diffs[0].Error != "" || diffs[0].Target != gitops.TargetDocker {
		t.Fatalf("diff: %+v, want one Docker deployment at %s", diffs, head)
	}
	got := map[string]gitops.Change{}
	for _, ch := range diffs[0].Changes {
		got[ch.Name] = ch
	}
	for app, want := range map[string]struct{ action, why string }{
		"web":  {gitops.DiffUpdated, "service web image " + f.im.registry},
		"new":  {gitops.DiffCreated, "first deploy"},
		"old":  {gitops.DiffRemoved, "left the source (prune: true)"},
		"same": {gitops.DiffUnchanged, "running as"},
		"bad":  {gitops.DiffInvalid, "apps/bad/compose.yaml:4:"},
	} {
		if ch := got[app]; ch.Kind != "app" || ch.Action != want.action || !strings.Contains(ch.Why, want.why) {
			t.Errorf("app %s: %+v, want %s saying %q", app, ch, want.action, want.why)
		}
	}
	if len(got) != 5 {
		t.Errorf("diff lists %d apps, want 5: %+v", len(got), diffs[0].Changes)
	}
	if after := f.containers(f.name, "web"); after["web"] != before["web"] {
		t.Errorf("diff redeployed web: %v -> %v", before, after)
	}
	if len(f.containers(f.name, "old")) != 1 || len(f.containers(f.name, "new")) != 0 {
		t.Errorf("diff removed old or created new")
	}
	if now, _ := os.ReadFile(statusFile); string(now) != string(saved) {
		t.Errorf("diff rewrote the status file")
	}

	st, _ := reconcile(t, c, f.name)
	var reasons []string
	for _, a := range st.Apps {
		reasons = append(reasons, a.Name+"="+a.Reason)
	}
	slices.Sort(reasons)
	want := []string{"bad=" + gitops.ReasonInvalid, "new=" + gitops.ReasonCreated, "old=" + gitops.ReasonPruned, "same=" + gitops.ReasonUpToDate, "web=" + gitops.ReasonUpdated}
	if !slices.Equal(reasons, want) {
		t.Errorf("the pass after diff did %v, want %v", reasons, want)
	}
	if _, err := c.Diff(t.Context(), "no-such"); err == nil {
		t.Error("diff of an unknown deployment: no error")
	}
}
