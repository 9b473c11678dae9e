package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// ErrRolledBack is returned when a rollout ended with its new generation
// removed by the analysis (or a rollback put the previous one back).
var ErrRolledBack = errors.New("rolled back")

// rollout is one run of a strategy for an environment.
type rollout struct {
	*Runner
	t    Target
	spec dockerhost.Spec
	st   State
	gens []dockerhost.Generation // running when the rollout began
	ro   Rollout
}

// Run rolls the target's services out with its strategy and returns the
// history entry it recorded. A canary the analysis rolled back returns
// ErrRolledBack; a generation that did not start leaves what ran before
// serving (except with recreate, which stopped it first).
func (r *Runner) Run(ctx context.Context, t Target) (Rollout, error) {
	return r.run(ctx, t, Rollout{})
}

// run runs t's strategy; note holds what the history entry says of its
// origin (PromotedFrom, Reason).
func (r *Runner) run(ctx context.Context, t Target, note Rollout) (Rollout, error) {
	if err := t.Strategy.Validate(); err != nil {
		return Rollout{}, fmt.Errorf("target %s: %w", t.Name, err)
	}
	if t.Strategy.Kind == Canary && r.opts.Metrics == nil {
		return Rollout{}, fmt.Errorf("target %s: a canary needs the embedded proxy's metrics", t.Name)
	}
	env := t.Env()
	defer r.lock(env)()
	st, gens, err := r.reconcile(ctx, env)
	if err != nil {
		return Rollout{}, err
	}
	x := &rollout{Runner: r, t: t, st: st, gens: gens,
		spec: dockerhost.Spec{Env: env, Name: t.Name, Services: t.Services, Vars: t.Vars},
		ro: Rollout{Env: env, Strategy: t.Strategy.Kind, From: st.Stable, PromotedFrom: note.PromotedFrom, Reason: note.Reason,
			Started: time.Now().UTC()},
	}
	if x.spec.FirstGeneration, err = r.nextGeneration(env); err != nil {
		return Rollout{}, err
	}
	r.log.Info("rollout: start", "env", env, "strategy", t.Strategy.Kind, "stable", st.Stable)
	if x.spec.Services, err = r.pinned(ctx, t.Services); err != nil {
		return x.finish(ctx, err)
	}
	switch t.Strategy.Kind {
	case Recreate:
		err = x.recreate(ctx)
	case Rolling:
		err = x.rolling(ctx)
	case BlueGreen:
		err = x.blueGreen(ctx)
	case Canary:
		err = x.canary(ctx)
	}
	return x.finish(ctx, err)
}

// finish records the rollout and saves the state, whatever happened.
func (x *rollout) finish(ctx context.Context, err error) (Rollout, error) {
	x.ro.Finished = time.Now().UTC()
	if err != nil && x.ro.Outcome == "" {
		x.ro.Outcome, x.ro.Reason = Failed, err.Error()
	}
	if x.ro.Outcome == "" {
		x.ro.Outcome = Succeeded
	}
	errs := []error{err}
	if serr := x.saveState(x.st); serr != nil {
		errs = append(errs, serr)
	}
	if rerr := x.record(x.ro); rerr != nil {
		errs = append(errs, rerr)
	}
	x.log.Info("rollout: done", "env", x.ro.Env, "strategy", x.ro.Strategy, "generation", x.ro.Generation,
		"outcome", x.ro.Outcome, "reason", x.ro.Reason)
	return x.ro, errors.Join(errs...)
}

// start starts the new generation and notes it in the history entry.
func (x *rollout) start(ctx context.Context) (dockerhost.Generation, error) {
	g, err := x.opts.Host.StartGeneration(ctx, x.spec)
	if err != nil {
		return g, err
	}
	x.ro.Generation, x.ro.Images = g.Number, g.Images()
	x.log.Info("rollout: generation healthy", "env", x.spec.Env, "generation", g.Number, "images", g.Images())
	return g, nil
}

// retire saves the state, then removes the generations but keep after the
// drain: a serve restarted during the drain must find the routes' new
// generation stable, or its reconcile would route back to one going away.
func (x *rollout) retire(ctx context.Context, keep ...int) error {
	if err := x.saveState(x.st); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	var gone []int
	for _, g := range x.gens {
		if !slices.Contains(keep, g.Number) {
			gone = append(gone, g.Number)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	_ = sleep(ctx, x.t.Strategy.drain())
	var errs []error
	for _, g := range gone {
		if err := x.opts.Host.RemoveGeneration(ctx, x.spec.Env, g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stable is the generation serving when the rollout began.
func (x *rollout) stable() (dockerhost.Generation, bool) {
	for _, g := range x.gens {
		if g.Number == x.st.Stable {
			return g, true
		}
	}
	return dockerhost.Generation{}, false
}

// recreate removes what runs, then starts the new generation: requests
// fail in between (404: no route). The routes go first: the old
// generation's ports are released with it, and another environment may
// get them.
func (x *rollout) recreate(ctx context.Context) error {
	if err := x.route(ctx, x.spec.Env); err != nil {
		return err
	}
	if err := x.retire(ctx); err != nil {
		return err
	}
	x.st.Stable, x.st.Previous, x.gens = 0, 0, nil
	g, err := x.start(ctx)
	if err != nil {
		return err
	}
	if err := x.route(ctx, x.spec.Env, share{g, 100}); err != nil {
		return err
	}
	x.st.Stable = g.Number
	return nil
}

// rolling switches the routes to the healthy new generation, then removes
// the others.
func (x *rollout) rolling(ctx context.Context) error {
	g, err := x.start(ctx)
	if err != nil {
		return err
	}
	if err := x.route(ctx, x.spec.Env, share{g, 100}); err != nil {
		return x.abandon(ctx, g, err)
	}
	x.st.Stable, x.st.Previous = g.Number, 0
	return x.retire(ctx, g.Number)
}

// abandon puts the routes back on the stable generation and removes g
// after the drain: a canary, or a generation some routes switched to,
// still answers the requests already sent to it.
func (x *rollout) abandon(ctx context.Context, g dockerhost.Generation, cause error) error {
	ctx = context.WithoutCancel(ctx)
	errs := []error{cause}
	if stable, ok := x.stable(); ok {
		errs = append(errs, x.route(ctx, x.spec.Env, share{stable, 100}))
	}
	_ = sleep(ctx, x.t.Strategy.drain())
	errs = append(errs, x.opts.Host.RemoveGeneration(ctx, x.spec.Env, g.Number))
	return errors.Join(errs...)
}

// blueGreen smoke-checks the new (green) generation, switches every
// request to it at once, and keeps the old (blue) one running, at weight
// 0 in the routes, until Keep has passed.
func (x *rollout) blueGreen(ctx context.Context) error {
	g, err := x.start(ctx)
	if err != nil {
		return err
	}
	if err := smoke(ctx, g, x.t.Strategy.Smoke); err != nil {
		return x.abandon(ctx, g, err)
	}
	blue, ok := x.stable()
	shares := []share{{g, 100}}
	if ok {
		shares = append(shares, share{blue, 0})
	}
	if err := x.route(ctx, x.spec.Env, shares...); err != nil {
		return x.abandon(ctx, g, err)
	}
	x.st.Stable, x.st.Previous, x.st.PreviousUntil = g.Number, 0, time.Time{}
	if ok {
		keep := x.t.Strategy.Keep
		if keep == 0 {
			keep = DefaultKeep
		}
		x.st.Previous, x.st.PreviousUntil = blue.Number, time.Now().UTC().Add(keep)
		x.log.Info("rollout: blue kept for rollback", "env", x.spec.Env, "generation", blue.Number, "until", x.st.PreviousUntil)
	}
	return x.retire(ctx, g.Number, x.st.Previous)
}

// canary raises the new generation's weight step by step; after each step
// the analysis judges its responses during the step. A failed step runs
// again; MaxFailedChecks failed steps roll it back (weight 0, generation
// removed, the stable one untouched). All steps passed promote it.
func (x *rollout) canary(ctx context.Context) error {
	stable, ok := x.stable()
	if !ok {
		x.ro.Reason = "no stable generation to compare with: rolled out at once"
		return x.rolling(ctx)
	}
	if err := x.confirm(ctx, ConfirmRollout, x.spec.FirstGeneration, 0); err != nil {
		return err
	}
	g, err := x.start(ctx)
	if err != nil {
		return err
	}
	defer func() { x.postRollout(ctx, g.Number) }()
	x.st.Canary = g.Number
	if err := x.saveState(x.st); err != nil {
		return x.rollback(ctx, stable, g, err.Error())
	}
	a := x.t.Strategy.Analysis.withDefaults()
	steps, failed := x.t.Strategy.steps(), 0
	for {
		// pre-rollout runs before the canary gets traffic; a failure
		// counts as a failed check and is tried again after an interval.
		_, err := x.hooks(ctx, PreRollout, "Initializing", g.Number, 0)
		if err == nil {
			break
		}
		x.ro.Checks = append(x.ro.Checks, Check{Reason: err.Error()})
		if failed++; failed >= a.MaxFailedChecks {
			return x.rollback(ctx, stable, g, fmt.Sprintf("%d failed checks, last before traffic: %s", failed, err))
		}
		if err := sleep(ctx, x.t.Strategy.interval()); err != nil {
			return x.rollback(ctx, stable, g, "interrupted: "+err.Error())
		}
	}
	x.resetApproval(x.spec.Env)
	for i := 0; i < len(steps); {
		w := steps[i]
		if err := x.holdUntil(ctx, "resume", func(g *gate) bool { return !g.paused }); err != nil {
			return x.rollback(ctx, stable, g, err.Error())
		}
		if err := x.route(ctx, x.spec.Env, share{stable, 100 - w}, share{g, w}); err != nil {
			return x.rollback(ctx, stable, g, err.Error())
		}
		x.st.CanaryWeight = w
		if err := x.saveState(x.st); err != nil {
			return x.rollback(ctx, stable, g, err.Error())
		}
		x.log.Info("rollout: canary step", "env", x.spec.Env, "generation", g.Number, "weight", w)
		before := x.stats(x.spec.Env, g)
		if err := sleep(ctx, x.t.Strategy.interval()); err != nil {
			return x.rollback(ctx, stable, g, "interrupted: "+err.Error())
		}
		c := a.Check(w, x.stats(x.spec.Env, g).Sub(before))
		x.analyse(ctx, a, &c, g.Number, w)
		x.ro.Checks = append(x.ro.Checks, c)
		if called, err := x.hooks(ctx, RollbackHook, "Progressing", g.Number, w); called && err == nil {
			return x.rollback(ctx, stable, g, "a rollback webhook asked for it")
		}
		x.log.Info("rollout: canary analysis", "env", x.spec.Env, "generation", g.Number, "weight", w,
			"requests", c.Requests, "success_rate", c.SuccessRate, "p99", c.P99, "passed", c.Passed, "reason", c.Reason)
		if c.Passed {
			i++
			continue
		}
		if failed++; failed >= a.MaxFailedChecks {
			return x.rollback(ctx, stable, g, fmt.Sprintf("%d failed checks, last at weight %d%%: %s", failed, w, c.Reason))
		}
	}
	if err := x.confirm(ctx, ConfirmPromotion, g.Number, steps[len(steps)-1]); err != nil {
		return x.rollback(ctx, stable, g, err.Error())
	}
	if x.t.Strategy.Approval {
		if err := x.holdUntil(ctx, "approval", func(g *gate) bool { return g.approved && !g.paused }); err != nil {
			return x.rollback(ctx, stable, g, err.Error())
		}
	}
	if err := x.route(ctx, x.spec.Env, share{g, 100}); err != nil {
		return x.rollback(ctx, stable, g, err.Error())
	}
	x.st.Stable, x.st.Previous, x.st.Canary, x.st.CanaryWeight, x.st.Waiting = g.Number, 0, 0, 0, ""
	x.log.Info("rollout: canary promoted", "env", x.spec.Env, "generation", g.Number)
	return x.retire(ctx, g.Number)
}

// rollback sends every request back to stable and removes the canary.
func (x *rollout) rollback(ctx context.Context, stable, canary dockerhost.Generation, reason string) error {
	x.log.Warn("rollout: canary rolled back", "env", x.spec.Env, "generation", canary.Number, "reason", reason)
	x.ro.Outcome, x.ro.Reason = RolledBack, reason
	x.st.Canary, x.st.CanaryWeight, x.st.Waiting = 0, 0, ""
	err := x.abandon(ctx, canary, nil)
	return errors.Join(fmt.Errorf("canary generation %d: %w: %s", canary.Number, ErrRolledBack, reason), err)
}

// nextGeneration is one more than every generation of the history: a
// generation removed (a canary rolled back, everything a recreate
// removed) leaves no container behind to say its number was taken.
func (r *Runner) nextGeneration(env string) (int, error) {
	hist, err := r.History(env)
	if err != nil {
		return 0, err
	}
	next := 1
	for _, h := range hist {
		next = max(next, h.Generation+1)
	}
	return next, nil
}

// pinned returns services with their images pinned by digest, each tag
// pulled again: the engine may still hold an older image under a tag the
// registry has moved. A pull that fails stops the rollout before it
// touches anything (before recreate removes what runs).
func (r *Runner) pinned(ctx context.Context, services []compose.Service) ([]compose.Service, error) {
	out := slices.Clone(services)
	for i, s := range out {
		img, _, err := r.opts.Host.Resolve(ctx, s.Image)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, err)
		}
		out[i].Image = img
	}
	return out, nil
}

// withImages returns services with each one's image replaced by images[name]:
// a promotion or a rollback runs exactly those digests.
func withImages(services []compose.Service, images map[string]string) ([]compose.Service, error) {
	out := slices.Clone(services)
	for i, s := range out {
		img, ok := images[s.Name]
		if !ok {
			return nil, fmt.Errorf("service %s: no image to run (the source runs %v)", s.Name, slices.Sorted(maps.Keys(images)))
		}
		out[i].Image = img
	}
	return out, nil
}
