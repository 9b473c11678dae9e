package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/deploy"
)

// canary is a fast canary for tests: short steps, a few requests suffice.
func canary(steps ...int) deploy.Strategy {
	return deploy.Strategy{Kind: deploy.Canary, Steps: steps, Interval: 500 * time.Millisecond, Drain: 200 * time.Millisecond,
		Analysis: deploy.Analysis{SuccessRate: 0.99, MinRequests: 5, MaxFailedChecks: 2}}
}

func TestCanaryOfAGoodVersionIsPromoted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tg := f.target(t, "canary-good", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	first, err := f.runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	f.serves(t, hostOf(tg), "v1", 5)

	h := f.hammer(t, hostOf(tg), 3)
	// On a loaded machine a 500ms step may see a request or two: one
	// suffices here, and a step that saw none runs again, as it would in
	// production; only a check of enough requests counts.
	good := canary(20, 50, 100)
	good.Analysis.MinRequests, good.Analysis.MaxFailedChecks = 1, 20
	next := f.target(t, "canary-good", f.images.v2, good)
	ro, err := f.runner.Run(ctx, next)
	answers := h.Stop()
	if err != nil {
		t.Fatalf("canary of the good v2: %v (checks %+v)", err, ro.Checks)
	}
	passed := 0
	for _, c := range ro.Checks {
		if c.Passed {
			passed++
		} else if c.Requests >= good.Analysis.MinRequests {
			t.Errorf("check %+v of the good version failed with enough requests", c)
		}
	}
	if ro.Outcome != deploy.Succeeded || passed != 3 || ro.From != first.Generation {
		t.Fatalf("rollout = %+v, want succeeded after 3 passed checks, from generation %d", ro, first.Generation)
	}
	counts := tally(answers)
	if counts["200 v1"]+counts["200 v2"] != len(answers) || counts["200 v2"] == 0 {
		t.Fatalf("answers during the canary: %v; want only 200s, from both versions", counts)
	}
	f.serves(t, hostOf(tg), "v2", 20)

	st, err := f.runner.Status(ctx, tg.Env())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != ro.Generation || st.Canary != 0 || len(st.Generations) != 1 || st.Generations[0].Number != ro.Generation {
		t.Fatalf("status after promotion = %+v, want generation %d alone and stable", st, ro.Generation)
	}
	t.Logf("answers during the canary: %v; checks: %+v", counts, ro.Checks)
}

func TestCanaryOfABadVersionIsRolledBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tg := f.target(t, "canary-bad", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	first, err := f.runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}

	h := f.hammer(t, hostOf(tg), 3)
	bad := f.target(t, "canary-bad", f.images.bad, canary(20, 50, 100))
	ro, err := f.runner.Run(ctx, bad)
	h.waitFor(t, 20) // after the rollback
	answers := h.Stop()
	if !errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("canary of the bad version: err = %v, want ErrRolledBack", err)
	}
	if ro.Outcome != deploy.RolledBack || len(ro.Checks) != 2 || ro.Checks[0].Passed || ro.Checks[1].Passed || ro.Checks[1].Weight != 20 {
		t.Fatalf("rollout = %+v, want rolled back after 2 failed checks at weight 20", ro)
	}
	// The stable version answered every request but the canary's share.
	counts := tally(answers)
	if counts["200 v1"]+counts["500 bad"] != len(answers) {
		t.Fatalf("answers during the canary: %v; want 200 v1 or the canary's 500 only", counts)
	}
	if share := float64(counts["500 bad"]) / float64(len(answers)); counts["500 bad"] == 0 || share > 0.4 {
		t.Fatalf("the canary at weight 20 answered %d of %d requests (%.0f%%)", counts["500 bad"], len(answers), 100*share)
	}
	f.serves(t, hostOf(tg), "v1", 20)

	st, err := f.runner.Status(ctx, tg.Env())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != first.Generation || st.Canary != 0 || len(st.Generations) != 1 || st.Generations[0].Number != first.Generation {
		t.Fatalf("status after the rollback = %+v, want generation %d alone", st, first.Generation)
	}
	hist, err := f.runner.History(tg.Env())
	if err != nil || len(hist) != 2 || hist[1].Outcome != deploy.RolledBack || hist[1].Reason == "" || hist[1].Images["web"] == "" {
		t.Fatalf("history = %+v, %v; want the rollback with its reason and digest", hist, err)
	}
	t.Logf("answers during the canary: %v; reason: %s", counts, ro.Reason)

	// The next rollout's generation is a new number: the history must not
	// show the rolled-back canary's number for another generation.
	next, err := f.runner.Run(ctx, f.target(t, "canary-bad", f.images.v2, deploy.Strategy{Kind: deploy.Rolling, Drain: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if hist, _ = f.runner.History(tg.Env()); next.Generation == ro.Generation || next.Generation == first.Generation {
		t.Fatalf("history %+v: generation %d again, want each rollout its own number", hist, next.Generation)
	}
}

// A canary whose rollout is interrupted (the command stopped, the context
// ended) is rolled back, and the stable version serves alone.
func TestInterruptedCanaryIsRolledBack(t *testing.T) {
	f := newFixture(t)
	tg := f.target(t, "canary-cut", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	first, err := f.runner.Run(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	slow := canary(50, 100)
	slow.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		ro  deploy.Rollout
		err error
	}
	done := make(chan result, 1)
	go func() {
		ro, err := f.runner.Run(ctx, f.target(t, "canary-cut", f.images.v2, slow))
		done <- result{ro, err}
	}()
	// Wait until the canary takes its share, then stop the rollout.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := f.runner.State(tg.Env())
		if err != nil {
			t.Fatal(err)
		}
		if st.CanaryWeight == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no canary at 50%% after 60s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	res := <-done
	if !errors.Is(res.err, deploy.ErrRolledBack) || !strings.Contains(res.ro.Reason, "interrupted") {
		t.Fatalf("interrupted canary = %+v, %v; want rolled back, interrupted", res.ro, res.err)
	}
	f.serves(t, hostOf(tg), "v1", 20)
	st, err := f.runner.Status(context.Background(), tg.Env())
	if err != nil || st.Stable != first.Generation || st.Canary != 0 || len(st.Generations) != 1 {
		t.Fatalf("status = %+v, %v; want generation %d alone", st, err, first.Generation)
	}
}
