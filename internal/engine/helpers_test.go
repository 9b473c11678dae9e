package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor/shell"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// job builds a planned job the way the planner would.
type job struct{ *ci.PlannedJob }

func newJob(name, stage string, script ...string) job {
	return job{&ci.PlannedJob{
		Name: name, Stage: stage, When: ci.OnSuccess,
		Def: &ci.Job{Name: name, Stage: stage, Script: script},
	}}
}

func (j job) needs(names ...string) job {
	j.Needs = []ci.PlannedNeed{}
	for _, n := range names {
		j.Needs = append(j.Needs, ci.PlannedNeed{Job: n, Artifacts: true})
	}
	return j
}

func (j job) when(w ci.When) job { j.When = w; return j }

func (j job) allowFailure(codes ...int) job {
	j.AllowFailure = ci.AllowFailure{Set: true, Allowed: len(codes) == 0, ExitCodes: codes}
	return j
}

func (j job) def(f func(d *ci.Job)) job { f(j.Def); return j }

// plan puts jobs in stage order with their stage indexes; Dependencies are
// left nil, so the engine uses GitLab's defaults.
func plan(stages []string, jobs ...job) *ci.Plan {
	p := &ci.Plan{Stages: stages}
	for si, s := range stages {
		for _, j := range jobs {
			if j.Stage == s {
				j.StageIndex = si
				p.Jobs = append(p.Jobs, j.PlannedJob)
			}
		}
	}
	return p
}

// recorder keeps every event of a run.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// log returns a job's output lines joined by newlines.
func (r *recorder) log(job string) string {
	var b strings.Builder
	for _, e := range r.all() {
		if e.Kind == JobLog && e.Job == job {
			b.WriteString(e.Line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// first returns the time of the first event of kind for job.
func (r *recorder) first(kind EventKind, job string) time.Time {
	for _, e := range r.all() {
		if e.Kind == kind && e.Job == job {
			return e.Time
		}
	}
	return time.Time{}
}

type runner struct {
	t       testing.TB
	repo    string
	workDir string
	rec     *recorder
	opts    Options
}

func newRunner(t testing.TB, files map[string]string) *runner {
	r := &runner{t: t, repo: testenv.GitRepo(t, files), workDir: t.TempDir(), rec: &recorder{}}
	r.opts = Options{
		Repo: r.repo, Commit: "HEAD", WorkDir: r.workDir,
		Executor:    &shell.Executor{KillGrace: 200 * time.Millisecond},
		Concurrency: 4,
		Events:      r.rec.add,
	}
	return r
}

func (r *runner) run(ctx context.Context, p *ci.Plan) *Result {
	r.t.Helper()
	res, err := Run(ctx, p, r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// want checks each named job's status.
func want(t *testing.T, res *Result, statuses map[string]Status) {
	t.Helper()
	for name, st := range statuses {
		j := res.Job(name)
		if j == nil {
			t.Errorf("job %q not in the result", name)
			continue
		}
		if j.Status != st {
			t.Errorf("job %q: status %s (%s %s), want %s", name, j.Status, j.FailureReason, j.Detail, st)
		}
	}
}
