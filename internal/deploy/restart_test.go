package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// removals is a Host that notes, at each generation it removes, the state
// a restarted serve would find on disk at that moment.
type removals struct {
	deploy.Host
	dir string

	mu    sync.Mutex
	saved map[int]deploy.State // removed generation -> state on disk
}

func (h *removals) RemoveGeneration(ctx context.Context, env string, gen int) error {
	reader, err := deploy.New(deploy.Options{Host: h.Host, StateDir: h.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	st, err := reader.State(env)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.saved[gen] = st
	h.mu.Unlock()
	return h.Host.RemoveGeneration(ctx, env, gen)
}

// A serve killed while a rollout drains the old generation must find the
// new one stable on restart: the routes already send it every request,
// and the old one is about to go.
func TestStateIsSavedBeforeTheOldGenerationGoes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	host := &removals{Host: f.host, dir: dir, saved: map[int]deploy.State{}}
	runner, err := deploy.New(deploy.Options{Host: host, Router: f.proxy, Metrics: f.proxy, StateDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rolling := deploy.Strategy{Kind: deploy.Rolling, Drain: 100 * time.Millisecond}
	first, err := runner.Run(ctx, f.target(t, "restart-drain", f.images.v1, rolling))
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, "restart-drain", f.images.v2, rolling)
	second, err := runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := host.saved[first.Generation]
	if !ok {
		t.Fatalf("generation %d was never removed: %+v", first.Generation, host.saved)
	}
	if st.Stable != second.Generation {
		t.Fatalf("state on disk while generation %d went: %+v; want generation %d stable (a restart would route back to the one going)",
			first.Generation, st, second.Generation)
	}
	f.serves(t, hostOf(tg), "v2", 3)
}

// A recreate releases the old generation's ports, which another
// environment may get next: its routes must not point at them any more,
// during the downtime nor after a new generation that did not start.
func TestFailedRecreateLeavesNoRouteToReleasedPorts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := deploy.Strategy{Kind: deploy.Recreate, Drain: 100 * time.Millisecond}
	tg := f.target(t, "recreate-failed", f.images.v1, rc)
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	f.serves(t, hostOf(tg), "v1", 3)

	// An image no registry serves fails before anything is removed.
	unreachable := f.target(t, "recreate-failed", "127.0.0.1:1/nowhere/app:v9", rc)
	if ro, err := f.runner.Run(ctx, unreachable); err == nil || ro.Outcome != deploy.Failed {
		t.Fatalf("recreate of an image nobody serves = %+v, %v; want failed", ro, err)
	}
	f.serves(t, hostOf(tg), "v1", 3)

	// A generation that exits at once fails after the old one went.
	crashing := tg
	crashing.Services = slices.Clone(tg.Services)
	crashing.Services[0].Command = []string{"false"}
	if ro, err := f.runner.Run(ctx, crashing); err == nil || ro.Outcome != deploy.Failed {
		t.Fatalf("recreate of a crashing generation = %+v, %v; want failed", ro, err)
	}
	check := func(when string) {
		t.Helper()
		routes, err := f.proxy.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range routes {
			if slices.Contains(rt.Hosts, hostOf(tg)) {
				t.Fatalf("%s: route %+v still sends %s to ports released with the old generation", when, rt, hostOf(tg))
			}
		}
	}
	check("after the failed recreate")
	if _, err := f.runner.Reconcile(ctx, tg.Env()); err != nil {
		t.Fatal(err)
	}
	check("after a reconcile")
}

// timedRouter notes when the routes last changed.
type timedRouter struct {
	proxy.Router
	mu      sync.Mutex
	applied time.Time
}

func (r *timedRouter) Apply(ctx context.Context, rt proxy.Route) error {
	r.mu.Lock()
	r.applied = time.Now()
	r.mu.Unlock()
	return r.Router.Apply(ctx, rt)
}

// drained is a Host that notes how long after the last route change each
// generation was removed.
type drained struct {
	deploy.Host
	router *timedRouter
	mu     sync.Mutex
	after  map[int]time.Duration
}

func (h *drained) RemoveGeneration(ctx context.Context, env string, gen int) error {
	h.router.mu.Lock()
	since := time.Since(h.router.applied)
	h.router.mu.Unlock()
	h.mu.Lock()
	h.after[gen] = since
	h.mu.Unlock()
	return h.Host.RemoveGeneration(ctx, env, gen)
}

// A canary rolled back keeps running for the drain after it left the
// routes, for the requests already sent to it, as any generation that
// leaves them.
func TestRolledBackCanaryIsRemovedAfterTheDrain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	router := &timedRouter{Router: f.proxy}
	host := &drained{Host: f.host, router: router, after: map[int]time.Duration{}}
	runner, err := deploy.New(deploy.Options{Host: host, Router: router, Metrics: f.proxy, StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.Run(ctx, f.target(t, "canary-drain", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})); err != nil {
		t.Fatal(err)
	}
	s := canary(50, 100) // no traffic: both checks fail
	s.Drain = time.Second
	ro, err := runner.Run(ctx, f.target(t, "canary-drain", f.images.v2, s))
	if !errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("canary without traffic = %+v, %v; want rolled back", ro, err)
	}
	if after, ok := host.after[ro.Generation]; !ok || after < s.Drain {
		t.Fatalf("the canary was removed %v after it left the routes (removed: %v), want after the drain of %v", after, ok, s.Drain)
	}
}
