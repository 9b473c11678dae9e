// Package engine runs a planned pipeline with GitLab's semantics: stage
// order and the needs DAG, when/allow_failure/retry/timeout, each job
// attempt in a fresh working copy of the commit, artifacts and dotenv
// variables passed to later jobs, the cache restored and saved. Everything
// it has to say comes out as Events.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// Defaults for zero Options fields.
const (
	DefaultTimeout            = time.Hour // GitLab's project default
	DefaultAfterScriptTimeout = 5 * time.Minute
)

// Options say what to run a plan on and how.
type Options struct {
	// Repo is a git repository and Commit a revision of it; every job
	// attempt gets a fresh copy of that commit's tree.
	Repo   string
	Commit string
	// WorkDir holds the working copies, artifacts, cache and ID counter.
	// Runs may share it.
	WorkDir string

	// Executor runs every job, unless ExecutorFor is set and picks one per
	// job.
	Executor    executor.Executor
	ExecutorFor func(job *ci.PlannedJob) (executor.Executor, error)

	// Concurrency is how many jobs run at once; 0 means the number of CPUs.
	Concurrency int
	// Manual names the manual jobs to play (planned or definition names).
	Manual []string
	// Events receives everything the run has to say, one event at a time.
	// It must not block for long: jobs wait for it.
	Events func(Event)

	// PipelineID is CI_PIPELINE_ID; 0 takes the next ID of WorkDir.
	PipelineID int64
	// DefaultTimeout applies to jobs without `timeout:`; 0 means an hour.
	DefaultTimeout     time.Duration
	AfterScriptTimeout time.Duration
	// OutputLimit is how many bytes of output each job attempt may log;
	// the rest is dropped after one line that says so (LimitNotice). 0
	// means DefaultOutputLimit.
	OutputLimit int64
	// KeepWorkingCopies leaves each attempt's folder in place (debugging).
	KeepWorkingCopies bool

	// JobIDs, when set, are the IDs of jobs by name (a server's job rows):
	// every attempt of such a job has it as CI_JOB_ID, so that it is the
	// ID users see in the server's API.
	JobIDs map[string]int64

	// JobVariables, when set, adds variables to one job attempt (a server's
	// per-job token, for example); they rank above the run's.
	JobVariables func(job *ci.PlannedJob, jobID int64) ci.Variables

	// Prior are jobs of this pipeline that already finished in an earlier
	// run, by name: they keep their results, artifacts and dotenv, and the
	// other jobs are decided against them. A server resumes a pipeline this
	// way to play a manual job or retry a failed one.
	Prior map[string]JobResult

	// Snapshot, when set, is Commit already extracted (by the planning);
	// the run uses it instead of extracting again, and removes it.
	Snapshot *workspace.Snapshot
}

// ProjectDirer is implemented by executors that run the job somewhere else
// than its host folder (a container): ProjectDir is the folder the job sees,
// which becomes CI_PROJECT_DIR and Spec.ProjectDir.
type ProjectDirer interface {
	ProjectDir(jobDir string) string
}

// Run runs plan and returns when every job has finished. The error is for
// a pipeline that could not run at all (bad options, unknown commit, a plan
// whose needs form a cycle); failing jobs are in the Result. Canceling ctx
// cancels the running jobs and gives a canceled pipeline.
func Run(ctx context.Context, plan *ci.Plan, opts Options) (*Result, error) {
	if opts.Executor == nil && opts.ExecutorFor == nil {
		return nil, errors.New("engine: no executor")
	}
	if opts.WorkDir == "" || opts.Repo == "" || opts.Commit == "" {
		return nil, errors.New("engine: Repo, Commit and WorkDir are required")
	}
	if opts.OutputLimit < 0 {
		return nil, fmt.Errorf("engine: output limit %d: want a positive number of bytes", opts.OutputLimit)
	}
	if opts.OutputLimit == 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	workDir, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	jobs, err := graph(plan)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// One reservation gives the pipeline and every first attempt an ID;
	// retries take theirs one by one.
	ids := idCounter{path: filepath.Join(workDir, "ids")}
	first, err := ids.reserve(1 + len(jobs))
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	pipelineID := opts.PipelineID
	if pipelineID == 0 {
		pipelineID = first
	}
	for i, j := range jobs {
		j.firstID = first + 1 + int64(i)
		if id, ok := opts.JobIDs[j.job.Name]; ok {
			j.firstID = id
		}
	}

	start := time.Now()
	pipeDir := filepath.Join(workDir, "pipelines", fmt.Sprint(pipelineID))
	snapshot := opts.Snapshot
	if snapshot == nil {
		snapshot, err = workspace.Extract(ctx, opts.Repo, opts.Commit, filepath.Join(pipeDir, "source"))
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	defer os.RemoveAll(snapshot.Dir)
	if !opts.KeepWorkingCopies {
		defer os.RemoveAll(filepath.Join(pipeDir, "builds"))
	}

	r := &run{
		plan:     plan,
		opts:     opts,
		jobs:     jobs,
		ids:      ids,
		snapshot: snapshot,
		pipeDir:  pipeDir,
		cache:    workspace.Cache{Dir: filepath.Join(workDir, "cache")},
		events:   &emitter{sink: opts.Events, pipelineID: pipelineID},
		id:       pipelineID,
	}
	r.events.emit(Event{Kind: PipelineStarted})
	for _, j := range jobs {
		if prior, ok := opts.Prior[j.job.Name]; ok {
			j.res, j.done = prior, true
			j.artifactsDir, j.dotenv = prior.ArtifactsDir, prior.Dotenv
			j.failedUpstream = prior.Status == Failed && !prior.AllowFailure
			continue
		}
		r.events.emit(Event{Kind: JobCreated, Job: j.job.Name, Stage: j.job.Stage, Status: Created})
	}
	r.startRemover()
	r.schedule(ctx)
	r.stopRemover()

	res := &Result{PipelineID: pipelineID, Duration: time.Since(start), Jobs: make([]JobResult, len(jobs))}
	res.DurationMS = res.Duration.Milliseconds()
	for i, j := range jobs {
		res.Jobs[i] = j.res
	}
	res.Status = pipelineStatus(ctx, jobs)
	r.events.emit(Event{Kind: PipelineFinished, Status: res.Status, Result: res})
	return res, nil
}

func pipelineStatus(ctx context.Context, jobs []*jobState) Status {
	failed, blocked, canceled := false, false, false
	for _, j := range jobs {
		switch {
		case j.res.Status == Canceled:
			canceled = true
		case j.res.Status == Failed && !j.res.AllowFailure:
			failed = true
		case j.blockedBy != "":
			blocked = true
		}
	}
	switch {
	case canceled || ctx.Err() != nil:
		return Canceled
	case failed:
		return Failed
	case blocked:
		return Manual
	}
	return Success
}

// jobState is one planned job during a run.
type jobState struct {
	job   *ci.PlannedJob
	index int
	preds []int // jobs that must finish first
	deps  []int // jobs whose artifacts and dotenv it gets
	// viaNeeds: preds come from `needs:` rather than from stage order.
	viaNeeds bool

	res  JobResult
	done bool
	// failedUpstream: failed (not allowed), or skipped because something
	// before failed; either way jobs after it see a failure.
	failedUpstream bool
	// blockedBy names the blocking manual job that kept this job from
	// running; manualSkip the non-blocking one that a need pointed at.
	blockedBy  string
	manualSkip string

	firstID      int64  // CI_JOB_ID of the first attempt
	artifactsDir string // "" when the job left none
	dotenv       []workspace.EnvVar
}

// graph checks the plan and works out each job's predecessors: its needs,
// or every job of the stages before.
func graph(plan *ci.Plan) ([]*jobState, error) {
	index := make(map[string]int, len(plan.Jobs))
	jobs := make([]*jobState, len(plan.Jobs))
	for i, pj := range plan.Jobs {
		if _, dup := index[pj.Name]; dup {
			return nil, fmt.Errorf("plan: job %q appears twice", pj.Name)
		}
		if pj.Def == nil {
			return nil, fmt.Errorf("plan: job %q has no definition", pj.Name)
		}
		index[pj.Name] = i
		jobs[i] = &jobState{job: pj, index: i, res: JobResult{Name: pj.Name, Stage: pj.Stage, Status: Created, AllowFailure: allowsFailure(pj)}}
	}
	for _, j := range jobs {
		pj := j.job
		if pj.Needs != nil {
			j.viaNeeds = true
			for _, n := range pj.Needs {
				k, ok := index[n.Job]
				if !ok {
					return nil, fmt.Errorf("plan: job %q needs %q, which is not in the pipeline", pj.Name, n.Job)
				}
				j.preds = append(j.preds, k)
			}
		} else {
			for k, other := range jobs {
				if other.job.StageIndex < pj.StageIndex {
					j.preds = append(j.preds, k)
				}
			}
		}
		deps := pj.Dependencies
		if deps == nil {
			deps = defaultDependencies(pj, jobs)
		}
		for _, d := range deps {
			k, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("plan: job %q depends on %q, which is not in the pipeline", pj.Name, d)
			}
			if !slices.Contains(j.preds, k) {
				return nil, fmt.Errorf("plan: job %q depends on %q, which does not run before it", pj.Name, d)
			}
			j.deps = append(j.deps, k)
		}
	}
	if cycle := findCycle(jobs); cycle != "" {
		return nil, fmt.Errorf("plan: needs form a cycle: %s", cycle)
	}
	return jobs, nil
}

// defaultDependencies is GitLab's default when `dependencies:` is not
// given: the needs that keep artifacts, or every job of earlier stages.
func defaultDependencies(pj *ci.PlannedJob, jobs []*jobState) []string {
	var out []string
	if pj.Needs != nil {
		for _, n := range pj.Needs {
			if n.Artifacts {
				out = append(out, n.Job)
			}
		}
		return out
	}
	for _, other := range jobs {
		if other.job.StageIndex < pj.StageIndex {
			out = append(out, other.job.Name)
		}
	}
	return out
}

func findCycle(jobs []*jobState) string {
	const (
		unseen = iota
		active
		finished
	)
	state := make([]int, len(jobs))
	var path []string
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = active
		path = append(path, jobs[i].job.Name)
		for _, p := range jobs[i].preds {
			if state[p] == active {
				path = append(path, jobs[p].job.Name)
				return true
			}
			if state[p] == unseen && visit(p) {
				return true
			}
		}
		path = path[:len(path)-1]
		state[i] = finished
		return false
	}
	for i := range jobs {
		if state[i] == unseen && visit(i) {
			// path ends with the job that closes the cycle; start there.
			last := path[len(path)-1]
			first := slices.Index(path, last)
			cyc := path[first:]
			s := cyc[0]
			for _, n := range cyc[1:] {
				s += " -> " + n
			}
			return s
		}
	}
	return ""
}

// allowsFailure is the job's allow_failure as GitLab reads it: manual jobs
// may fail unless allow_failure was set.
func allowsFailure(pj *ci.PlannedJob) bool {
	af := pj.AllowFailure
	if pj.When == ci.Manual && !af.Set {
		return true
	}
	return af.Allowed || len(af.ExitCodes) > 0
}

// blocking reports whether a manual job, while not played, holds back the
// jobs after it (GitLab: allow_failure: false set on a manual job).
func blocking(pj *ci.PlannedJob) bool {
	af := pj.AllowFailure
	return pj.When == ci.Manual && af.Set && !af.Allowed
}
