package imageupdate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
)

// ErrUnknownUpdate is returned by RunNow for a name the config lacks.
var ErrUnknownUpdate = errors.New("no such image update")

// Automation runs the updates of a config: each with a fresh scan of the
// policies, once (RunAll) or at its interval (Run). `slipway gitops images`
// and the server share it; Status tells what it last saw and did.
type Automation struct {
	Config *Config
	// DryRun plans the edits and writes nothing.
	DryRun bool
	// Getenv reads registry credentials; os.Getenv when nil.
	Getenv func(string) string
	Logger *slog.Logger
	// Ran, when set, is told of each run of an update.
	Ran func(u *Update, res Outcome, err error)

	once sync.Once
	kick chan string
	mu   sync.Mutex
	st   AutomationStatus
}

// AutomationStatus is what the automation last saw and did.
type AutomationStatus struct {
	Policies []PolicyStatus `json:"policies"`
	Updates  []UpdateStatus `json:"updates"`
}

// PolicyStatus is a policy's last scan.
type PolicyStatus struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Tag and Digest are the latest image selected, kept when a later
	// scan fails.
	Tag       string    `json:"tag,omitempty"`
	Digest    string    `json:"digest,omitempty"`
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// UpdateStatus is an update's last run.
type UpdateStatus struct {
	Name string `json:"name"`
	// URL has any credentials hidden.
	URL        string    `json:"url"`
	PushBranch string    `json:"push_branch"`
	LastRun    time.Time `json:"last_run,omitzero"`
	// LastCommit is the last commit the update pushed.
	LastCommit string    `json:"last_commit,omitempty"`
	LastPushAt time.Time `json:"last_push_at,omitzero"`
	Error      string    `json:"error,omitempty"`
}

func (a *Automation) init() {
	a.once.Do(func() {
		a.kick = make(chan string, len(a.Config.Updates)+1)
		if a.Logger == nil {
			a.Logger = slog.Default()
		}
		for _, p := range a.Config.Policies {
			a.st.Policies = append(a.st.Policies, PolicyStatus{Name: p.Name, Image: p.Image})
		}
		for _, u := range a.Config.Updates {
			a.st.Updates = append(a.st.Updates, UpdateStatus{Name: u.Name, URL: mirror.Redact(u.URL), PushBranch: u.PushBranch})
		}
	})
}

// Status returns a copy of what the automation last saw and did.
func (a *Automation) Status() AutomationStatus {
	a.init()
	a.mu.Lock()
	defer a.mu.Unlock()
	return AutomationStatus{Policies: append([]PolicyStatus(nil), a.st.Policies...), Updates: append([]UpdateStatus(nil), a.st.Updates...)}
}

// RunAll scans every policy once and runs every update with the result,
// stopping at the first error.
func (a *Automation) RunAll(ctx context.Context) error {
	a.init()
	results, err := a.scan(ctx)
	if err != nil {
		return err
	}
	for i, u := range a.Config.Updates {
		if err := a.run(ctx, i, u, results); err != nil {
			return err
		}
	}
	return nil
}

// Run runs every update when it is due, with a fresh scan, until ctx
// ends, and at once when RunNow asks. A failed run is logged and tried
// again at the next interval: the registry or the git server may be back
// by then.
func (a *Automation) Run(ctx context.Context) {
	a.init()
	next := make([]time.Time, len(a.Config.Updates))
	for {
		wait := time.Duration(1<<63 - 1)
		for i, u := range a.Config.Updates {
			if !time.Now().Before(next[i]) {
				results, err := a.scan(ctx)
				if err == nil {
					err = a.run(ctx, i, u, results)
				} else {
					a.failed(i, u, err)
				}
				if err != nil && ctx.Err() == nil {
					a.Logger.Error("image update failed", "update", u.Name, "err", err)
				}
				next[i] = time.Now().Add(u.Interval)
			}
			wait = min(wait, time.Until(next[i]))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case name := <-a.kick:
			timer.Stop()
			for i, u := range a.Config.Updates {
				if u.Name == name {
					next[i] = time.Time{}
				}
			}
		}
	}
}

// RunNow asks Run to run the named update at once.
func (a *Automation) RunNow(name string) error {
	a.init()
	found := false
	for _, u := range a.Config.Updates {
		found = found || u.Name == name
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrUnknownUpdate, name)
	}
	select {
	case a.kick <- name:
	default: // full: runs are pending already
	}
	return nil
}

// scan selects the image of every policy, records and logs the choices;
// the error names the policies that could not be scanned.
func (a *Automation) scan(ctx context.Context) (map[string]imagepolicy.Result, error) {
	results := map[string]imagepolicy.Result{}
	var errs []error
	for i, p := range a.Config.Policies {
		r, err := p.Scan(ctx, a.Getenv)
		a.mu.Lock()
		ps := &a.st.Policies[i]
		ps.ScannedAt, ps.Error = time.Now().UTC(), ""
		if err != nil {
			ps.Error = err.Error()
		} else {
			ps.Tag, ps.Digest = r.Tag, r.Digest
		}
		a.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results[p.Name] = r
		a.Logger.Info("image policy selected", "policy", r.Policy, "image", r.Image, "tag", r.Tag, "digest", r.Digest)
	}
	return results, errors.Join(errs...)
}

// run runs update i (u) with results and records what it did.
func (a *Automation) run(ctx context.Context, i int, u *Update, results map[string]imagepolicy.Result) error {
	res, err := u.Run(ctx, results, a.DryRun)
	a.mu.Lock()
	us := &a.st.Updates[i]
	us.LastRun, us.Error = time.Now().UTC(), ""
	if err != nil {
		us.Error = err.Error()
	}
	if res.Commit != "" {
		us.LastCommit, us.LastPushAt = res.Commit, us.LastRun
	}
	a.mu.Unlock()
	if res.Commit != "" {
		a.Logger.Info("image update pushed", "update", u.Name, "commit", res.Commit, "branch", u.PushBranch, "changes", len(res.Changes()))
	}
	if a.Ran != nil {
		a.Ran(u, res, err)
	}
	return err
}

// failed records a run of update i that could not start.
func (a *Automation) failed(i int, u *Update, err error) {
	a.mu.Lock()
	a.st.Updates[i].LastRun, a.st.Updates[i].Error = time.Now().UTC(), err.Error()
	a.mu.Unlock()
	if a.Ran != nil {
		a.Ran(u, Outcome{}, err)
	}
}
