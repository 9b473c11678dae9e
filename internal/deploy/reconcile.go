package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// Reconcile brings the environment to its saved state, and may run at any
// moment: a canary left by an interrupted rollout is rolled back, a blue
// generation whose keep time has passed is removed, generations that are
// neither stable nor kept are removed, and the routes are applied again
// (an embedded proxy starts without any; none where nothing runs). An
// environment without state
// adopts its newest generation as the stable one.
func (r *Runner) Reconcile(ctx context.Context, env string) (State, error) {
	defer r.lock(env)()
	st, _, err := r.reconcile(ctx, env)
	return st, err
}

// reconcile is Reconcile with the environment's lock held; it returns the
// generations that still run.
func (r *Runner) reconcile(ctx context.Context, env string) (State, []dockerhost.Generation, error) {
	st, err := r.State(env)
	if err != nil {
		return st, nil, err
	}
	gens, err := r.opts.Host.Generations(ctx, env)
	if err != nil {
		return st, nil, err
	}
	has := func(n int) bool {
		return n != 0 && slices.ContainsFunc(gens, func(g dockerhost.Generation) bool { return g.Number == n })
	}
	if st.Canary != 0 {
		r.log.Warn("rollout: a canary of an interrupted rollout is rolled back", "env", env, "generation", st.Canary)
		now := time.Now().UTC()
		if err := r.record(Rollout{Env: env, Strategy: Canary, Generation: st.Canary, From: st.Stable, Started: now, Finished: now,
			Outcome: RolledBack, Reason: "the rollout was interrupted"}); err != nil {
			return st, nil, err
		}
		st.Canary, st.CanaryWeight = 0, 0
	}
	if !has(st.Stable) {
		st.Stable = 0
		for _, g := range gens {
			if g.Number != st.Previous {
				st.Stable = g.Number // the newest: gens are oldest first
			}
		}
	}
	if st.Previous != 0 && (!has(st.Previous) || time.Now().After(st.PreviousUntil)) {
		st.Previous, st.PreviousUntil = 0, time.Time{}
	}
	var keep []dockerhost.Generation
	var errs []error
	for _, g := range gens {
		if g.Number == st.Stable || g.Number == st.Previous {
			keep = append(keep, g)
			continue
		}
		r.log.Info("rollout: remove generation", "env", env, "generation", g.Number)
		errs = append(errs, r.opts.Host.RemoveGeneration(ctx, env, g.Number))
	}
	var shares []share
	for _, g := range keep {
		w := 0
		if g.Number == st.Stable {
			w = 100
		}
		shares = append(shares, share{g, w})
	}
	// Without a generation, no route: a port released with the last one
	// may belong to another environment now.
	errs = append(errs, r.route(ctx, env, shares...))
	errs = append(errs, r.saveState(st))
	if err := errors.Join(errs...); err != nil {
		return st, keep, fmt.Errorf("reconcile %s: %w", env, err)
	}
	return st, keep, nil
}

// Status is an environment's state with its running generations.
type Status struct {
	State
	Generations []dockerhost.Generation
}

// Status returns the environment's state and generations, as saved and as
// Docker shows them, without changing anything.
func (r *Runner) Status(ctx context.Context, env string) (Status, error) {
	st, err := r.State(env)
	if err != nil {
		return Status{}, err
	}
	gens, err := r.opts.Host.Generations(ctx, env)
	if err != nil {
		return Status{}, err
	}
	return Status{State: st, Generations: gens}, nil
}

// Rollback puts the previous version back. Within a blue-green keep time
// the kept generation serves again at once (a weight change); otherwise
// the images of the last successful rollout before the current one are
// rolled out again, by digest, with the rolling strategy (recreate for a
// recreate target).
func (r *Runner) Rollback(ctx context.Context, t Target) (Rollout, error) {
	env := t.Env()
	unlock := r.lock(env)
	st, gens, err := r.reconcile(ctx, env)
	if err != nil {
		unlock()
		return Rollout{}, err
	}
	if st.Stable == 0 {
		unlock()
		return Rollout{}, fmt.Errorf("rollback %s: nothing runs", env)
	}
	if st.Previous != 0 {
		defer unlock()
		// Only a blue-green keeps a previous generation, whatever strategy
		// the target names now (`deploy run --strategy blue-green`).
		x := &rollout{Runner: r, t: t, st: st, gens: gens, spec: dockerhost.Spec{Env: env, Name: t.Name},
			ro: Rollout{Env: env, Strategy: BlueGreen, Generation: st.Previous, From: st.Stable, Started: time.Now().UTC()}}
		return x.finish(ctx, x.switchBack(ctx))
	}
	unlock()
	hist, err := r.History(env)
	if err != nil {
		return Rollout{}, err
	}
	var current map[string]string
	for _, g := range gens {
		if g.Number == st.Stable {
			current = g.Images()
		}
	}
	for i := currentRollout(hist, st.Stable) - 1; i >= 0; i-- {
		h := hist[i]
		if h.Outcome != Succeeded || len(h.Images) == 0 || maps.Equal(h.Images, current) {
			continue
		}
		services, err := withImages(t.Services, h.Images)
		if err != nil {
			return Rollout{}, fmt.Errorf("rollback %s to generation %d: %w", env, h.Generation, err)
		}
		back := t
		back.Services = services
		if back.Strategy.Kind != Recreate { // recreate: never two versions at once
			back.Strategy.Kind = Rolling
		}
		r.log.Info("rollout: rollback by redeploy", "env", env, "images of generation", h.Generation)
		return r.run(ctx, back, Rollout{Reason: fmt.Sprintf("rollback to the images of generation %d", h.Generation)})
	}
	return Rollout{}, fmt.Errorf("rollback %s: no earlier successful rollout with other images in the history", env)
}

// currentRollout is the index of the rollout that started the stable
// generation, len(hist) when none did (it was adopted). The history, not
// the generation numbers, says what came before: in a history written
// before numbers were unique, they start again at 1 once a recreate
// removed every generation.
func currentRollout(hist []Rollout, stable int) int {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Generation == stable && hist[i].Outcome == Succeeded {
			return i
		}
	}
	return len(hist)
}

// switchBack makes the kept generation the stable one again and removes
// the one that served.
func (x *rollout) switchBack(ctx context.Context) error {
	var prev, cur dockerhost.Generation
	for _, g := range x.gens {
		switch g.Number {
		case x.st.Previous:
			prev = g
		case x.st.Stable:
			cur = g
		}
	}
	if err := x.route(ctx, x.spec.Env, share{prev, 100}, share{cur, 0}); err != nil {
		return err
	}
	x.log.Info("rollout: rolled back to the kept generation", "env", x.spec.Env, "generation", prev.Number)
	x.ro.Images, x.ro.Outcome, x.ro.Reason = prev.Images(), RolledBack, fmt.Sprintf("rollback to generation %d", prev.Number)
	x.st.Stable, x.st.Previous, x.st.PreviousUntil = prev.Number, 0, time.Time{}
	return x.retire(ctx, prev.Number)
}

// Promote rolls out to the target exactly the images, pinned by digest,
// that the stable generation of from runs, with to's strategy: a tag
// pushed again since is never looked at.
func (r *Runner) Promote(ctx context.Context, from, to Target) (Rollout, error) {
	// Reconciled first: a source deployed without this runner adopts its
	// newest generation as stable, and a canary of it is never promoted.
	st, err := r.Reconcile(ctx, from.Env())
	if err != nil {
		return Rollout{}, err
	}
	gens, err := r.opts.Host.Generations(ctx, from.Env())
	if err != nil {
		return Rollout{}, err
	}
	var images map[string]string
	for _, g := range gens {
		if g.Number == st.Stable {
			images = g.Images()
		}
	}
	if images == nil {
		return Rollout{}, fmt.Errorf("promote %s to %s: nothing runs in %s", from.Name, to.Name, from.Name)
	}
	services, err := withImages(to.Services, images)
	if err != nil {
		return Rollout{}, fmt.Errorf("promote %s to %s: %w", from.Name, to.Name, err)
	}
	to.Services = services
	return r.run(ctx, to, Rollout{PromotedFrom: from.Name})
}

// Remove takes a target off the host: its routes first, then the
// containers of every generation, its network, volumes and port
// reservations, and its state. The history stays, so the generation
// numbers of a later rollout go on from it. A name that is neither a
// target of cfg nor has a state is refused: a typo removes nothing.
func (r *Runner) Remove(ctx context.Context, cfg *Config, name string) error {
	env := Target{Name: name}.Env()
	if _, err := cfg.Target(name); err != nil {
		if _, serr := os.Stat(r.statePath(env)); serr != nil {
			return err
		}
	}
	defer r.lock(env)()
	if err := r.route(ctx, env); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := r.opts.Host.Teardown(ctx, env); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.Remove(r.statePath(env)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	r.log.Info("rollout: target removed", "env", env)
	return nil
}
