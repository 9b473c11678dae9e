package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// run is the state of one pipeline run.
type run struct {
	plan     *ci.Plan
	opts     Options
	jobs     []*jobState
	ids      idCounter
	snapshot *workspace.Snapshot
	pipeDir  string
	cache    workspace.Cache
	events   *emitter
	id       int64

	trash       chan string // working copies to delete
	trashClosed chan struct{}
}

// startRemover deletes finished working copies in the background, so that
// a job's end (and the start of the jobs after it) does not wait for it.
func (r *run) startRemover() {
	r.trash = make(chan string, len(r.jobs))
	r.trashClosed = make(chan struct{})
	go func() {
		defer close(r.trashClosed)
		for dir := range r.trash {
			_ = os.RemoveAll(dir)
		}
	}()
}

func (r *run) remove(dir string) { r.trash <- dir }

// stopRemover waits until every working copy is gone.
func (r *run) stopRemover() {
	close(r.trash)
	<-r.trashClosed
}

// outcome is what a job goroutine reports back to the scheduler.
type outcome struct {
	index int
	res   JobResult
	// artifacts and dotenv of the job, for the jobs that depend on it.
	artifactsDir string
	dotenv       []workspace.EnvVar
}

// schedule runs the jobs in dependency order, at most Concurrency at a
// time, until every job has a final status. Only this goroutine touches
// jobState; running jobs report through a channel.
func (r *run) schedule(ctx context.Context) {
	limit := r.opts.Concurrency
	if limit <= 0 {
		limit = runtime.NumCPU()
	}
	var (
		finished = make(chan outcome)
		delayed  = make(chan int, len(r.jobs))
		timers   = map[int]*time.Timer{}
		queue    []int // ready to run, in plan order
		running  int
		decided  = make([]bool, len(r.jobs)) // prior jobs are decided already
		done     = ctx.Done()
		canceled bool
	)

	for i, j := range r.jobs {
		decided[i] = j.done
	}
	for {
		// Decide every job whose predecessors have all finished.
		for progress := true; progress; {
			progress = false
			for i, j := range r.jobs {
				if decided[i] || !r.predsDone(j) {
					continue
				}
				decided[i] = true
				progress = true
				switch r.decide(j, canceled) {
				case runNow:
					queue = append(queue, i)
				case runLater:
					idx := i
					timers[i] = time.AfterFunc(j.job.StartIn, func() { delayed <- idx })
					r.log(j, 0, 0, fmt.Sprintf("Delayed: starts in %s", j.job.StartIn))
				}
			}
		}
		slices.Sort(queue)
		for running < limit && len(queue) > 0 && !canceled {
			i := queue[0]
			queue = queue[1:]
			running++
			r.jobs[i].res.Status = Running
			go func(j *jobState) { finished <- r.runJob(ctx, j) }(r.jobs[i])
		}
		if running == 0 && len(timers) == 0 && len(queue) == 0 {
			return
		}

		select {
		case o := <-finished:
			running--
			j := r.jobs[o.index]
			j.res = o.res
			j.artifactsDir = o.artifactsDir
			j.dotenv = o.dotenv
			j.failedUpstream = o.res.Status == Failed && !o.res.AllowFailure
			r.finish(j)
		case i := <-delayed:
			delete(timers, i)
			queue = append(queue, i)
		case <-done:
			done = nil
			canceled = true
			for i, t := range timers {
				t.Stop()
				delete(timers, i)
				r.skip(r.jobs[i], Canceled, reasonCanceled, "the pipeline was canceled")
			}
			for _, i := range queue {
				r.skip(r.jobs[i], Canceled, reasonCanceled, "the pipeline was canceled")
			}
			queue = nil
		}
	}
}

func (r *run) predsDone(j *jobState) bool {
	for _, p := range j.preds {
		if !r.jobs[p].done {
			return false
		}
	}
	return true
}

type decision int

const (
	settled  decision = iota // got a final status without running
	runNow                   // queue it
	runLater                 // delayed: queue after StartIn
)

// decide gives a job whose predecessors have finished its fate, by
// GitLab's rules: `when` against the failures before it, manual jobs, and
// blocking manual jobs.
func (r *run) decide(j *jobState, canceled bool) decision {
	if canceled {
		r.skip(j, Canceled, reasonCanceled, "the pipeline was canceled")
		return settled
	}
	var failed bool
	var blockedBy, manualSkip string
	for _, p := range j.preds {
		pj := r.jobs[p]
		failed = failed || pj.failedUpstream
		switch {
		case pj.blockedBy != "":
			blockedBy = pj.blockedBy
		case pj.res.Status == Manual && blocking(pj.job):
			blockedBy = pj.job.Name
		case j.viaNeeds && pj.res.Status == Manual:
			manualSkip = pj.job.Name
		case j.viaNeeds && pj.manualSkip != "":
			manualSkip = pj.manualSkip
		}
	}
	if blockedBy != "" {
		j.blockedBy = blockedBy
		r.skip(j, Skipped, reasonBlocked, fmt.Sprintf("blocked by manual job %q", blockedBy))
		return settled
	}

	when := j.job.When
	if when == ci.Manual && r.played(j.job) {
		when = ci.OnSuccess
	}
	switch when {
	case ci.OnFailure:
		if !failed {
			r.skip(j, Skipped, reasonNoFailure, "no job before it failed")
			return settled
		}
	case ci.Always:
	default: // on_success, delayed, manual
		if failed {
			j.failedUpstream = true
			r.skip(j, Skipped, reasonUpstreamFailed, "a job before it failed")
			return settled
		}
	}
	if manualSkip != "" && when != ci.Always {
		j.manualSkip = manualSkip
		r.skip(j, Skipped, "manual", fmt.Sprintf("needs manual job %q, which was not played", manualSkip))
		return settled
	}
	switch when {
	case ci.Manual:
		r.skip(j, Manual, "", "manual job: play it with --manual")
		return settled
	case ci.Delayed:
		if j.job.StartIn > 0 {
			j.res.Status = Pending
			return runLater
		}
	}
	j.res.Status = Pending
	return runNow
}

func (r *run) played(pj *ci.PlannedJob) bool {
	return slices.Contains(r.opts.Manual, pj.Name) || slices.Contains(r.opts.Manual, pj.Def.Name)
}

// skip ends a job that does not run.
func (r *run) skip(j *jobState, status Status, reason, detail string) {
	j.res.Status = status
	j.res.FailureReason = reason
	j.res.Detail = detail
	r.finish(j)
}

func (r *run) finish(j *jobState) {
	j.done = true
	res := j.res
	r.events.emit(Event{Kind: JobFinished, Job: j.job.Name, Stage: j.job.Stage, Status: res.Status, JobResult: &res})
}

// log emits one line of the engine's own in a job's log; the values in it
// cannot break it into several.
func (r *run) log(j *jobState, jobID int64, attempt int, line string) {
	r.events.emit(Event{Kind: JobLog, Job: j.job.Name, Stage: j.job.Stage, JobID: jobID, Attempt: attempt, Line: printable(line)})
}
