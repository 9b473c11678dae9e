package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is where an environment's rollout stands, kept in
// <StateDir>/<env>.state.json. Docker labels say which generations run; the
// state says which of them serves, which is a canary, and which is kept
// for a rollback.
type State struct {
	Env string `json:"env"`
	// Stable is the generation that serves; 0 before the first rollout.
	Stable int `json:"stable"`
	// Previous is the generation a blue-green switch keeps running until
	// PreviousUntil; 0 for none.
	Previous      int       `json:"previous,omitempty"`
	PreviousUntil time.Time `json:"previous_until,omitzero"`
	// Canary is a canary in progress and CanaryWeight its share; a canary
	// found at start belongs to a rollout that was interrupted.
	Canary       int `json:"canary,omitempty"`
	CanaryWeight int `json:"canary_weight,omitempty"`
	// Waiting says what the canary waits for: "resume" (paused) or
	// "approval"; "" when it runs.
	Waiting string `json:"waiting,omitempty"`
}

// Outcome is how a rollout ended.
type Outcome string

// The outcomes.
const (
	// Succeeded: the new generation serves every request.
	Succeeded Outcome = "succeeded"
	// RolledBack: the new generation was removed, or a rollback put the
	// previous one back; the Reason says why.
	RolledBack Outcome = "rolled-back"
	// Failed: the new generation never served (it did not start, or was
	// not healthy).
	Failed Outcome = "failed"
)

// Rollout is one entry of an environment's history, in
// <StateDir>/<env>.history.jsonl.
type Rollout struct {
	Env      string `json:"env"`
	Strategy Kind   `json:"strategy"`
	// Generation is the generation rolled out (or back to); From the one
	// that served before.
	Generation int `json:"generation"`
	From       int `json:"from,omitempty"`
	// Images are the generation's images by service, pinned by digest.
	Images map[string]string `json:"images,omitempty"`
	// PromotedFrom names the environment whose images were promoted.
	PromotedFrom string    `json:"promoted_from,omitempty"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
	Outcome      Outcome   `json:"outcome"`
	Reason       string    `json:"reason,omitempty"`
	// Checks are the canary's analyses, one per step run.
	Checks []Check `json:"checks,omitempty"`
}

func (r *Runner) statePath(env string) string {
	return filepath.Join(r.opts.StateDir, env+".state.json")
}

func (r *Runner) historyPath(env string) string {
	return filepath.Join(r.opts.StateDir, env+".history.jsonl")
}

// State returns the environment's saved state; a zero State (Env set)
// before its first rollout.
func (r *Runner) State(env string) (State, error) {
	st := State{Env: env}
	b, err := os.ReadFile(r.statePath(env))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("state of %s: %w", env, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state of %s: %s: %w", env, r.statePath(env), err)
	}
	return st, nil
}

// saveState writes the state atomically: a crash leaves the old one or
// the new one.
func (r *Runner) saveState(st State) error {
	if err := os.MkdirAll(r.opts.StateDir, 0o755); err != nil {
		return fmt.Errorf("state of %s: %w", st.Env, err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.statePath(st.Env) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("state of %s: %w", st.Env, err)
	}
	if err := os.Rename(tmp, r.statePath(st.Env)); err != nil {
		return fmt.Errorf("state of %s: %w", st.Env, err)
	}
	return nil
}

// record appends a rollout to the environment's history.
func (r *Runner) record(ro Rollout) error {
	if err := os.MkdirAll(r.opts.StateDir, 0o755); err != nil {
		return fmt.Errorf("history of %s: %w", ro.Env, err)
	}
	b, err := json.Marshal(ro)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.historyPath(ro.Env), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("history of %s: %w", ro.Env, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history of %s: %w", ro.Env, err)
	}
	return f.Close()
}

// History returns the environment's rollouts, oldest first.
func (r *Runner) History(env string) ([]Rollout, error) {
	b, err := os.ReadFile(r.historyPath(env))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", env, err)
	}
	var out []Rollout
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ro Rollout
		if err := json.Unmarshal(sc.Bytes(), &ro); err != nil {
			return nil, fmt.Errorf("history of %s: %s:%d: %w", env, r.historyPath(env), line, err)
		}
		out = append(out, ro)
	}
	return out, sc.Err()
}
