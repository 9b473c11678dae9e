package deploy

import (
	"context"
	"fmt"
)

// Manual gates: an operator pauses a canary (it holds its weight and
// takes no further step until resumed) and approves the promotion of a
// canary whose strategy asks for approval. The gates live in the Runner,
// that is in slipway deploy serve's process, set through its control
// endpoint (POST /gates); a restart of serve forgets them.

// GateAction is what an operator does to an environment's canary.
type GateAction string

// The gate actions.
const (
	Pause   GateAction = "pause"
	Resume  GateAction = "resume"
	Approve GateAction = "approve"
)

// gate is an environment's manual gates; changed is closed and replaced
// at every change, waking the canary that waits on it.
type gate struct {
	paused, approved bool
	changed          chan struct{}
}

// gateOf returns env's gate; r.mu is held.
func (r *Runner) gateOf(env string) *gate {
	if r.gates == nil {
		r.gates = map[string]*gate{}
	}
	g, ok := r.gates[env]
	if !ok {
		g = &gate{changed: make(chan struct{})}
		r.gates[env] = g
	}
	return g
}

// Gate pauses or resumes the canaries of env, or approves the promotion
// of the one waiting for it. A pause holds the next canary too, before its
// first step; an approval needs a canary in progress.
func (r *Runner) Gate(env string, action GateAction) error {
	if action == Approve {
		st, err := r.State(env)
		if err != nil {
			return err
		}
		if st.Canary == 0 {
			return fmt.Errorf("%s: no canary in progress to approve", env)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gateOf(env)
	switch action {
	case Pause:
		g.paused = true
	case Resume:
		g.paused = false
	case Approve:
		g.approved = true
	default:
		return fmt.Errorf("gate action %q: want pause, resume or approve", action)
	}
	close(g.changed)
	g.changed = make(chan struct{})
	r.log.Info("rollout: gate", "env", env, "action", action)
	return nil
}

// holdUntil waits until ok says the gate of the rollout's environment
// lets it pass, with State.Waiting set to what it waits for meanwhile.
func (x *rollout) holdUntil(ctx context.Context, waiting string, ok func(*gate) bool) error {
	for {
		x.mu.Lock()
		g := x.gateOf(x.spec.Env)
		pass, changed := ok(g), g.changed
		x.mu.Unlock()
		if pass {
			if x.st.Waiting != "" {
				x.st.Waiting = ""
				return x.saveState(x.st)
			}
			return nil
		}
		if x.st.Waiting != waiting {
			x.st.Waiting = waiting
			if err := x.saveState(x.st); err != nil {
				return err
			}
			x.log.Info("rollout: canary waits", "env", x.spec.Env, "for", waiting)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s: %w", waiting, ctx.Err())
		case <-changed:
		}
	}
}

// resetApproval forgets an approval given to an earlier canary.
func (r *Runner) resetApproval(env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gateOf(env).approved = false
}
