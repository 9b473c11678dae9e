package gitops_test

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// The test app's httpd runs as PID 1 and ignores SIGTERM, so stopping its
// old generation takes the whole stop timeout. That wait must hold up
// neither the other deployment of the pass nor the next pass.
func TestSlowStopOfAnOldGenerationHoldsUpNoPass(t *testing.T) {
	const stop = 30 * time.Second
	f := newFixtureStopping(t, stop)
	src := newSource(t, map[string]string{
		"a/web/compose.yaml": appCompose(f.im.ref("v1")),
		"b/web/compose.yaml": appCompose(f.im.ref("v1")),
	})
	depA, depB := f.name+"a", f.name+"b"
	c := f.controller(f.config(src, `  - name: `+depA+`
    source: ops
    path: a
  - name: `+depB+`
    source: ops
    path: b
`), nil)
	if _, err := reconcile(t, c, depA); err != nil {
		t.Fatal(err)
	}
	src.commit("both to v2", map[string]string{
		"a/web/compose.yaml": appCompose(f.im.ref("v2")),
		"b/web/compose.yaml": appCompose(f.im.ref("v2")),
	})

	start := time.Now()
	stB, err := reconcile(t, c, depB)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// Before, each old generation's stop took 30 s in turn: 60 s or more.
	if took >= stop {
		t.Errorf("the pass that updated two deployments took %s, at least one %s stop of an old generation", took.Round(time.Millisecond), stop)
	}
	if got := answer(t, app(t, stB, "web")); got != "two" {
		t.Errorf("deployment b answers %q after the pass, want two", got)
	}
	if n := len(f.containerIDs(depA, "web")); n != 2 && time.Since(start) < stop {
		t.Errorf("deployment a has %d containers of web right after the pass, want the new and the old one being stopped", n)
	}

	// The next pass does not take the containers going away for drift.
	stA, err := reconcile(t, c, depA)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, stA, "web"); web.Reason != gitops.ReasonUpToDate || web.Changed {
		t.Errorf("the next pass: web %s (changed %v: %s), want UpToDate", web.Reason, web.Changed, web.Message)
	}
	if got := answer(t, app(t, stA, "web")); got != "two" {
		t.Errorf("deployment a answers %q, want two", got)
	}

	// The old generations go in the end.
	ctx, cancel := context.WithTimeout(context.Background(), 3*stop)
	defer cancel()
	if err := f.deployer.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{depA, depB} {
		if n := len(f.containerIDs(dep, "web")); n != 1 {
			t.Errorf("deployment %s has %d containers of web once the old generation is gone, want 1", dep, n)
		}
	}
}
