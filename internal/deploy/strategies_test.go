package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// Blue-green: a client hammering through the switch sees no failed
// request, the blue generation keeps running, and a rollback sends every
// request back to it without starting anything.
func TestBlueGreenSwitchesWithoutAFailureAndRollsBackInstantly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bg := deploy.Strategy{Kind: deploy.BlueGreen, Smoke: appPath, Keep: time.Hour, Drain: 200 * time.Millisecond}
	blue, err := f.runner.Run(ctx, f.target(t, "blue-green", f.images.v1, bg))
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, "blue-green", f.images.v2, bg)
	h := f.hammer(t, hostOf(tg), 3)
	h.waitFor(t, 20)
	green, err := f.runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, 20)
	answers := h.Stop()
	counts := tally(answers)
	if counts["200 v1"]+counts["200 v2"] != len(answers) {
		t.Fatalf("answers during the blue-green switch: %v; want 200s only", counts)
	}
	f.serves(t, hostOf(tg), "v2", 20)
	st, err := f.runner.Status(ctx, tg.Env())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != green.Generation || st.Previous != blue.Generation || len(st.Generations) != 2 {
		t.Fatalf("status after the switch = %+v, want green %d serving and blue %d kept", st, green.Generation, blue.Generation)
	}

	h = f.hammer(t, hostOf(tg), 3)
	h.waitFor(t, 20)
	// The target's file may name another strategy (`deploy run --strategy
	// blue-green` on a canary target): the rollback is a blue-green's still.
	asWritten := tg
	asWritten.Strategy.Kind = deploy.Canary
	back, err := f.runner.Rollback(ctx, asWritten)
	if err != nil {
		t.Fatal(err)
	}
	answers = h.Stop()
	if counts := tally(answers); counts["200 v1"]+counts["200 v2"] != len(answers) {
		t.Fatalf("answers during the rollback: %v; want 200s only", counts)
	}
	if back.Outcome != deploy.RolledBack || back.Generation != blue.Generation || back.Strategy != deploy.BlueGreen {
		t.Fatalf("rollback = %+v, want generation %d back by blue-green", back, blue.Generation)
	}
	f.serves(t, hostOf(tg), "v1", 20)
	st, err = f.runner.Status(ctx, tg.Env())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != blue.Generation || st.Previous != 0 || len(st.Generations) != 1 || st.Generations[0].Number != blue.Generation {
		t.Fatalf("status after the rollback = %+v, want blue %d alone, the same container", st, blue.Generation)
	}
}

// A blue generation goes once its keep time has passed, at the next
// reconcile.
func TestBlueGreenRemovesBlueAfterKeep(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bg := deploy.Strategy{Kind: deploy.BlueGreen, Keep: 300 * time.Millisecond, Drain: 100 * time.Millisecond}
	if _, err := f.runner.Run(ctx, f.target(t, "blue-green-keep", f.images.v1, bg)); err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, "blue-green-keep", f.images.v2, bg)
	green, err := f.runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := f.runner.Reconcile(ctx, tg.Env())
		if err != nil {
			t.Fatal(err)
		}
		if st.Previous == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blue still kept after 30s: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := f.runner.Status(ctx, tg.Env())
	if err != nil || len(st.Generations) != 1 || st.Generations[0].Number != green.Generation {
		t.Fatalf("status after keep = %+v, %v; want green %d alone", st, err, green.Generation)
	}
	f.serves(t, hostOf(tg), "v2", 5)
}

// A smoke check that fails leaves blue serving and removes green.
func TestBlueGreenFailedSmokeCheckKeepsBlue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bg := deploy.Strategy{Kind: deploy.BlueGreen, Smoke: appPath}
	blue, err := f.runner.Run(ctx, f.target(t, "blue-green-smoke", f.images.v1, bg))
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, "blue-green-smoke", f.images.bad, bg)
	ro, err := f.runner.Run(ctx, tg)
	if err == nil || ro.Outcome != deploy.Failed {
		t.Fatalf("blue-green of the bad version = %+v, %v; want failed by the smoke check", ro, err)
	}
	f.serves(t, hostOf(tg), "v1", 10)
	st, err := f.runner.Status(ctx, tg.Env())
	if err != nil || st.Stable != blue.Generation || len(st.Generations) != 1 {
		t.Fatalf("status = %+v, %v; want blue %d alone", st, err, blue.Generation)
	}
}

// Recreate: the old version stops before the new one starts, so clients
// see v1, then failures, then v2, never both versions at once.
func TestRecreateStopsTheOldVersionFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := deploy.Strategy{Kind: deploy.Recreate, Drain: 100 * time.Millisecond}
	if _, err := f.runner.Run(ctx, f.target(t, "recreate", f.images.v1, rc)); err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, "recreate", f.images.v2, rc)
	h := f.hammer(t, hostOf(tg), 1) // one client: its answers are in order
	h.waitFor(t, 10)
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, 10)
	answers := h.Stop()
	phase, failed := 0, 0 // 0: v1, 1: down, 2: v2
	for i, a := range answers {
		switch {
		case a.code == 200 && a.body == "v1" && phase == 0:
		case a.code == 200 && a.body == "v2":
			phase = 2
		case a.code != 200 && phase < 2:
			phase, failed = 1, failed+1
		default:
			t.Fatalf("answer %d of %d: %s in phase %d; answers: %v", i, len(answers), a, phase, tally(answers))
		}
	}
	if failed == 0 || phase != 2 {
		t.Fatalf("answers %v: want v1, then a downtime, then v2", tally(answers))
	}
	t.Logf("recreate: %v", tally(answers))
}

// Promotion runs the digest that runs in the source, even after its tag
// was pushed again with another image.
func TestPromoteDeploysTheRunningDigestNotTheTag(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, reg := registrytest.Start(t, nil)
	tag := reg + "/rollout/app:release"
	testenv.PushImage(t, f.cli, f.images.v1, tag)
	dev := f.target(t, "promote-dev", tag, deploy.Strategy{Kind: deploy.Rolling})
	devRun, err := f.runner.Run(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	testenv.PushImage(t, f.cli, f.images.v2, tag) // the tag now names v2

	prod := f.target(t, "promote-production", tag, deploy.Strategy{Kind: deploy.BlueGreen, Smoke: appPath})
	ro, err := f.runner.Promote(ctx, dev, prod)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Images["web"] != devRun.Images["web"] || ro.PromotedFrom != "promote-dev" || ro.Strategy != deploy.BlueGreen {
		t.Fatalf("promotion = %+v, want dev's image %s with production's strategy", ro, devRun.Images["web"])
	}
	f.serves(t, hostOf(prod), "v1", 10)
	// The tag itself would have given v2.
	if _, err := f.runner.Run(ctx, f.target(t, "promote-staging", tag, deploy.Strategy{Kind: deploy.Rolling})); err != nil {
		t.Fatal(err)
	}
	f.serves(t, "promote-staging."+domain, "v2", 3)
}

// Without a kept generation, a rollback rolls the digest of the rollout
// before out again, with rolling (recreate for a recreate target: what
// must never run twice at once). A recreate removes every generation
// before it starts the next; its numbers still go on (the rollback is
// generation 3, not a 1 again that the history already has).
func TestRollbackRedeploysThePreviousDigest(t *testing.T) {
	for _, tc := range []struct {
		env        string
		kind       deploy.Kind
		generation int // of the rollback
	}{
		{"rollback-redeploy", deploy.Rolling, 3},
		{"rollback-recreate", deploy.Recreate, 3},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			s := deploy.Strategy{Kind: tc.kind, Drain: 100 * time.Millisecond}
			first, err := f.runner.Run(ctx, f.target(t, tc.env, f.images.v1, s))
			if err != nil {
				t.Fatal(err)
			}
			tg := f.target(t, tc.env, f.images.v2, s)
			if _, err := f.runner.Run(ctx, tg); err != nil {
				t.Fatal(err)
			}
			f.serves(t, hostOf(tg), "v2", 3)
			back, err := f.runner.Rollback(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if back.Outcome != deploy.Succeeded || back.Images["web"] != first.Images["web"] || back.Generation != tc.generation ||
				back.Strategy != tc.kind || back.Reason != fmt.Sprintf("rollback to the images of generation %d", first.Generation) {
				t.Fatalf("rollback = %+v, want generation %d running %s with %s", back, tc.generation, first.Images["web"], tc.kind)
			}
			f.serves(t, hostOf(tg), "v1", 10)
		})
	}
}

// A tag pushed again from elsewhere (CI) is rolled out with its new
// digest, even though the engine still holds the old image under it.
func TestRunDeploysTheRegistrysDigestOfATag(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, reg := registrytest.Start(t, nil)
	tag := reg + "/rollout/app:moving"
	testenv.PushImage(t, f.cli, f.images.v1, tag)
	rolling := deploy.Strategy{Kind: deploy.Rolling, Drain: 100 * time.Millisecond}
	tg := f.target(t, "tag-moved", tag, rolling)
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	f.serves(t, hostOf(tg), "v1", 3)
	// CI pushes v2 under the tag; this engine's tag still names v1.
	testenv.PushImage(t, f.cli, f.images.v2, tag)
	if _, err := f.cli.ImageTag(ctx, client.ImageTagOptions{Source: f.images.v1, Target: tag}); err != nil {
		t.Fatal(err)
	}
	ro, err := f.runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	f.serves(t, hostOf(tg), "v2", 5)
	if !strings.HasPrefix(ro.Images["web"], reg+"/rollout/app@sha256:") {
		t.Fatalf("rolled out %s, want the tag's digest", ro.Images["web"])
	}
}
