// Package deploy rolls a new version of an environment out to a Docker host
// with a strategy: recreate, rolling, blue-green or canary. It starts
// generations with internal/env/dockerhost, splits the traffic between them
// with weighted proxy routes, reads each version's success rate and latency
// from the proxy to promote a canary or roll it back, and keeps a state
// file and a history of rollouts per environment.
//
// What runs is always pinned by digest: a generation's images are resolved
// once when it starts, and a promotion deploys the digests running in the
// source environment, never a tag again.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Kind names a strategy.
type Kind string

// The strategies.
const (
	// Recreate stops the old generation, then starts the new one: a
	// downtime, but never two versions at once (a schema migration, a
	// single-writer volume).
	Recreate Kind = "recreate"
	// Rolling starts the new generation beside the old one, switches the
	// routes once it is healthy, then removes the old one.
	Rolling Kind = "rolling"
	// BlueGreen is Rolling with a smoke check before the switch, and the
	// old (blue) generation kept running for Keep, for an instant rollback.
	BlueGreen Kind = "blue-green"
	// Canary sends a growing share of the requests to the new generation,
	// checks its metrics at each step, and promotes or rolls it back.
	Canary Kind = "canary"
)

// Kinds are the strategies, in the order the docs list them.
var Kinds = []Kind{Recreate, Rolling, BlueGreen, Canary}

// Strategy is how a target rolls out.
type Strategy struct {
	Kind Kind
	// Drain is how long a generation that leaves the routes keeps running
	// for the requests already sent to it (DefaultDrain when zero).
	Drain time.Duration
	// Smoke is a path (blue-green) that each exposed service of the new
	// generation must answer with 2xx on its own port before the switch;
	// "" checks only the health check.
	Smoke string
	// Keep is how long the old generation runs after a blue-green switch;
	// Rollback within that time is a weight change.
	Keep time.Duration
	// Steps are the canary's weights in percent, rising, e.g. 10, 25, 50,
	// 100 (DefaultSteps when empty).
	Steps []int
	// Interval is how long each canary step runs before its analysis
	// (DefaultInterval when zero).
	Interval time.Duration
	// Analysis decides whether a canary step passed.
	Analysis Analysis
	// Webhooks are called at the points of a canary their types say
	// (webhooks.go).
	Webhooks []Webhook
	// Approval holds a canary that passed every step until an operator
	// approves its promotion (gates.go).
	Approval bool
}

// Defaults of zero Strategy fields.
const (
	DefaultDrain    = time.Second
	DefaultInterval = time.Minute
	DefaultKeep     = 10 * time.Minute
)

// DefaultSteps are the canary weights when none are given.
var DefaultSteps = []int{10, 25, 50, 100}

// Target is an environment to roll out to.
type Target struct {
	// Name is the environment's name, e.g. production; its slug keys the
	// containers, routes, hostnames and state.
	Name string
	// Services come from the target's Compose file.
	Services []compose.Service
	// Vars are injected into every container.
	Vars map[string]string
	// Strategy is how the target rolls out.
	Strategy Strategy
}

// Env is the target's environment slug.
func (t Target) Env() string { return slug.Environment(t.Name) }

// Host runs the generations of environments; *dockerhost.Deployer is one.
type Host interface {
	// Resolve pins image by digest, pulling a tag again: the engine's
	// image under a tag may be older than the registry's.
	Resolve(ctx context.Context, image string) (pinned, id string, err error)
	StartGeneration(ctx context.Context, spec dockerhost.Spec) (dockerhost.Generation, error)
	RemoveGeneration(ctx context.Context, env string, gen int) error
	Generations(ctx context.Context, env string) ([]dockerhost.Generation, error)
	// Teardown removes every container, network, volume, route and port
	// reservation of env.
	Teardown(ctx context.Context, env string) error
}

// Metrics reads the responses a proxy counted by route and version;
// *embedded.Router is one.
type Metrics interface {
	Stats(routeID string) map[string]proxy.Stats
}

// Options configure a Runner.
type Options struct {
	// Host starts and removes generations.
	Host Host
	// Router installs the weighted routes; nil only for a Runner that
	// reads status and history.
	Router proxy.Router
	// Metrics feed the canary analysis; a canary without them fails.
	Metrics Metrics
	// StateDir holds each environment's state and history files.
	StateDir string
	// Logger gets the rollout events; slog.Default when nil.
	Logger *slog.Logger
}

// Runner rolls targets out. It is safe for concurrent use; rollouts of
// one environment run one after the other.
type Runner struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	gates map[string]*gate // gates.go
}

// New returns a Runner; Host and StateDir are required, and a Router for
// anything but Status, State and History.
func New(opts Options) (*Runner, error) {
	switch {
	case opts.Host == nil:
		return nil, errors.New("deploy: no host")
	case opts.StateDir == "":
		return nil, errors.New("deploy: no state directory")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Runner{opts: opts, log: log, locks: map[string]*sync.Mutex{}}, nil
}

// lock serialises the rollouts of one environment.
func (r *Runner) lock(env string) func() {
	r.mu.Lock()
	l, ok := r.locks[env]
	if !ok {
		l = &sync.Mutex{}
		r.locks[env] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Validate checks the strategy, naming the bad field.
func (s Strategy) Validate() error {
	switch s.Kind {
	case Recreate, Rolling, BlueGreen, Canary:
	default:
		return fmt.Errorf("strategy %q: want one of %v", s.Kind, Kinds)
	}
	if s.Drain < 0 || s.Keep < 0 || s.Interval < 0 {
		return errors.New("strategy: drain, keep and interval must not be negative")
	}
	prev := 0
	for i, w := range s.Steps {
		if w <= prev || w > 100 {
			return fmt.Errorf("steps[%d] %d: want weights rising from 1 to 100", i, w)
		}
		prev = w
	}
	for i, w := range s.Webhooks {
		if err := w.Validate(fmt.Sprintf("webhooks[%d]", i)); err != nil {
			return err
		}
	}
	return s.Analysis.Validate()
}

func (s Strategy) drain() time.Duration {
	if s.Drain == 0 {
		return DefaultDrain
	}
	return s.Drain
}

func (s Strategy) steps() []int {
	if len(s.Steps) == 0 {
		return DefaultSteps
	}
	return s.Steps
}

func (s Strategy) interval() time.Duration {
	if s.Interval == 0 {
		return DefaultInterval
	}
	return s.Interval
}

// sleep waits d, or less when ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
