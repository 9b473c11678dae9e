//go:build kube

package kubehost_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// appCompose is one exposed service whose page is its version's mark.
const appCompose = `
services:
  web:
    image: ` + kubetest.BusyboxImage + `
    command: [-c, 'mkdir -p /www && echo "$$MARK" > /www/index.html && exec httpd -f -p 8080 -h /www']
    environment: {MARK: "${MARK}"}
    x-slipway: {expose: true, main: true, port: 8080, health: /index.html}
`

// rolloutFixture is a deploy.Runner whose host is the cluster: the
// strategies of internal/deploy, unchanged.
func rolloutFixture(t *testing.T) (*fixture, *deploy.Runner) {
	f := newFixture(t)
	r, err := deploy.New(deploy.Options{Host: f.host, Router: f.proxy, Metrics: f.proxy, StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, r
}

// target is the environment name at version mark; the test tears it down.
func (f *fixture) target(t *testing.T, name, mark string, s deploy.Strategy) deploy.Target {
	t.Helper()
	return f.targetOf(t, name, appCompose, map[string]string{"MARK": mark}, s)
}

// targetOf is target with the Compose file file and its variables vars.
func (f *fixture) targetOf(t *testing.T, name, file string, vars map[string]string, s deploy.Strategy) deploy.Target {
	t.Helper()
	env, err := compose.Parse(context.Background(), "compose.yaml", []byte(file), vars)
	if err != nil {
		t.Fatal(err)
	}
	tg := deploy.Target{Name: name, Services: env.Services, Strategy: s}
	f.teardownAtEnd(t, tg.Env())
	return tg
}

// load is clients asking host through the proxy until stop; it counts
// the answers by "code body" ("error" for none).
type load struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[string]int
	// first and last are when each kind of answer came first and last.
	first, last map[string]time.Time
	n           int
}

func (f *fixture) load(t *testing.T, host string, clients int) *load {
	return f.loadWith(t, host, clients, &http.Client{Timeout: 10 * time.Second})
}

// loadWith is load by clients that give up as c does.
func (f *fixture) loadWith(t *testing.T, host string, clients int, c *http.Client) *load {
	l := &load{counts: map[string]int{}, first: map[string]time.Time{}, last: map[string]time.Time{}}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stop.Load() {
				code, body, err := f.getWith(c, host, "/")
				key := http.StatusText(code) + " " + body
				if err != nil {
					key = "error"
				}
				now := time.Now()
				l.mu.Lock()
				l.counts[key]++
				if _, ok := l.first[key]; !ok {
					l.first[key] = now
				}
				l.last[key] = now
				l.n++
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

// waitFor waits until the clients got n more answers.
func (l *load) waitFor(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	want := l.n + n
	l.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		got := l.n
		l.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients got %d answers, want %d", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *load) Stop() map[string]int {
	l.stop.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}

// failures are the answers other than 200 with a version's mark.
func failures(counts map[string]int, marks ...string) int {
	bad := 0
	for k, n := range counts {
		ok := false
		for _, m := range marks {
			ok = ok || k == "OK "+m
		}
		if !ok {
			bad += n
		}
	}
	return bad
}

func TestCanaryOfAGoodVersionIsPromotedOnTheCluster(t *testing.T) {
	f, runner := rolloutFixture(t)
	ctx := context.Background()
	name := "canary-" + f.installation
	first, err := runner.Run(ctx, f.target(t, name, "v1", deploy.Strategy{Kind: deploy.Rolling}))
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, name, "v2", deploy.Strategy{Kind: deploy.Canary, Steps: []int{20, 50, 100}, Interval: time.Second, Drain: 200 * time.Millisecond,
		Analysis: deploy.Analysis{SuccessRate: 0.99, MinRequests: 1, MaxFailedChecks: 20}})
	host := tg.Env() + "." + domain
	f.serves(t, host, "/", "v1")

	l := f.load(t, host, 3)
	l.waitFor(t, 20)
	ro, err := runner.Run(ctx, tg)
	l.waitFor(t, 20)
	counts := l.Stop()
	if err != nil {
		t.Fatalf("canary of the good v2: %v (checks %+v)", err, ro.Checks)
	}
	if ro.Outcome != deploy.Succeeded || ro.From != first.Generation {
		t.Fatalf("rollout = %+v, want succeeded from generation %d", ro, first.Generation)
	}
	if failures(counts, "v1", "v2") != 0 || counts["OK v2"] == 0 {
		t.Fatalf("answers during the canary: %v; want only 200s, from both versions", counts)
	}
	f.serves(t, host, "/", "v2")
	gens, err := f.host.Generations(ctx, tg.Env())
	if err != nil || len(gens) != 1 || gens[0].Number != ro.Generation {
		t.Fatalf("generations after promotion: %+v %v, want %d alone", gens, err, ro.Generation)
	}
	t.Logf("answers during the canary: %v; checks: %+v", counts, ro.Checks)
}

func TestBlueGreenSwitchOnTheCluster(t *testing.T) {
	f, runner := rolloutFixture(t)
	ctx := context.Background()
	name := "bg-" + f.installation
	bg := deploy.Strategy{Kind: deploy.BlueGreen, Smoke: "/index.html", Keep: time.Hour, Drain: 200 * time.Millisecond}
	blue, err := runner.Run(ctx, f.target(t, name, "blue", bg))
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, name, "green", bg)
	host := tg.Env() + "." + domain
	f.serves(t, host, "/", "blue")
	l := f.load(t, host, 3)
	l.waitFor(t, 20)
	green, err := runner.Run(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, 20)
	counts := l.Stop()
	if failures(counts, "blue", "green") != 0 {
		t.Fatalf("answers during the switch: %v; want 200s only", counts)
	}
	f.serves(t, host, "/", "green")
	st, err := runner.Status(ctx, tg.Env())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != green.Generation || st.Previous != blue.Generation || len(st.Generations) != 2 {
		t.Fatalf("status after the switch = %+v, want green %d serving and blue %d kept", st, green.Generation, blue.Generation)
	}
	// Within keep, a rollback is a weight change back to blue's pods.
	back, err := runner.Rollback(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if back.Generation != blue.Generation {
		t.Fatalf("rollback = %+v, want blue %d", back, blue.Generation)
	}
	f.serves(t, host, "/", "blue")
}
