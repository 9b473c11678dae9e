package pipelines

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/store"
)

// recorder turns one run's engine events into store updates, log lines,
// live updates and notifications. The engine hands it one event at a time.
type recorder struct {
	s        *Service
	project  store.Project
	pipeline store.Pipeline
	ids      map[string]int64 // job name -> store job ID
	pick     *byname.Picker
	plan     *ci.Plan

	partial map[int64]*strings.Builder // pieces of a cut line, by job

	mu      sync.Mutex // guards secrets and masker: job tokens arrive from job goroutines
	secrets []string
	masker  joblog.Masker
}

func (r *recorder) setSecrets(values []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append([]string(nil), values...)
	r.masker = joblog.NewMasker(r.secrets)
}

func (r *recorder) addSecret(value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, value)
	r.masker = joblog.NewMasker(r.secrets)
}

func (r *recorder) mask(s string) string {
	r.mu.Lock()
	m := r.masker
	r.mu.Unlock()
	return m.Apply(s)
}

func (r *recorder) handle(e engine.Event) {
	ctx := context.Background()
	st := r.s.Store
	logErr := func(what string, err error) {
		if err != nil {
			r.s.log().Error(what, "pipeline", r.pipeline.ID, "job", e.Job, "err", err)
		}
	}
	id := r.ids[e.Job]
	switch e.Kind {
	case engine.PipelineStarted:
		p, err := st.SetRunStatus(ctx, r.s.Server.ID, r.pipeline.ID, store.Running, "")
		logErr("pipeline started", err)
		r.notifyPipeline(p, notify.Running)
	case engine.JobCreated:
		if _, err := st.SetJobStatus(ctx, id, store.Pending); err != nil {
			logErr("job pending", err)
		}
	case engine.JobStarted:
		kind := ""
		if pj := r.plan.Job(e.Job); pj != nil {
			kind = r.pick.Kind(pj)
		}
		if e.Attempt > 1 {
			r.appendLog(id, fmt.Sprintf("--- attempt %d ---", e.Attempt))
		}
		j, err := st.StartJob(ctx, id, store.JobStart{Server: r.s.Server, Executor: kind, LogPath: r.s.Logs.Path(r.pipeline.ID, id)})
		logErr("job started", err)
		r.notifyJob(j, notify.Running)
	case engine.JobLog:
		// A line the engine cut is masked whole, so that a secret across
		// the cut is found, then stored as one line. Its pieces are
		// gathered in a buffer: adding each to a string of the ones before
		// cost the square of the line's length. The engine's output limit
		// bounds the line.
		if e.Continued {
			r.piece(id, e.Line)
			return
		}
		if b, ok := r.partial[id]; ok {
			b.WriteString(e.Line)
			r.appendLog(id, b.String())
			delete(r.partial, id)
			break
		}
		r.appendLog(id, e.Line)
	case engine.JobFinished:
		if b, ok := r.partial[id]; ok {
			r.appendLog(id, b.String())
			delete(r.partial, id)
		}
		res := e.JobResult
		var j store.Job
		var err error
		switch res.Status {
		case engine.Manual, engine.Created, engine.Pending:
			j, err = st.SetJobStatus(ctx, id, store.Status(res.Status))
		default:
			jr := store.JobResult{Status: store.Status(res.Status), FailureReason: res.FailureReason}
			if res.Status == engine.Failed || res.Status == engine.Canceled || res.Status == engine.Skipped {
				jr.Error = r.mask(res.Detail)
			}
			if res.Attempts > 0 {
				code := res.ExitCode
				jr.ExitCode = &code
			}
			j, err = st.FinishJob(ctx, id, jr)
		}
		logErr("job finished", err)
		r.s.Logs.Close(r.pipeline.ID, id)
		if r.s.JobFinished != nil && err == nil {
			r.s.JobFinished(j)
		}
		if res.Attempts > 0 {
			r.notifyJob(j, notify.Status(res.Status))
		}
	case engine.PipelineFinished:
		p, err := st.SetRunStatus(ctx, r.s.Server.ID, r.pipeline.ID, store.Status(e.Result.Status), "")
		logErr("pipeline finished", err)
		r.notifyPipeline(p, notify.Status(e.Result.Status))
	}
	r.s.Updates.Publish(r.pipeline.ID)
}

// piece keeps a piece of a job's cut line until its end comes.
func (r *recorder) piece(jobID int64, text string) {
	if r.partial == nil {
		r.partial = map[int64]*strings.Builder{}
	}
	b := r.partial[jobID]
	if b == nil {
		b = &strings.Builder{}
		r.partial[jobID] = b
	}
	b.WriteString(text)
}

func (r *recorder) appendLog(jobID int64, line string) {
	if err := r.s.Logs.Append(r.pipeline.ID, jobID, r.mask(line)); err != nil {
		r.s.log().Error("writing job log", "job", jobID, "err", err)
	}
}

func (r *recorder) event(status notify.Status) notify.Event {
	p := r.pipeline
	title, _, _ := strings.Cut(p.Ref, "\n")
	e := notify.Event{
		Kind: notify.KindPipeline, Status: status, Time: time.Now().UTC(),
		Project:  notify.Project{Name: r.project.Name, Repo: ProjectPath(r.project)},
		Pipeline: notify.Pipeline{ID: p.ID, Source: p.Source},
		Ref:      title, Tag: p.Tag, SHA: p.SHA,
	}
	if r.s.BaseURL != "" {
		e.Project.URL = r.s.BaseURL + "/projects/" + url.PathEscape(r.project.Name)
		e.Pipeline.URL = fmt.Sprintf("%s/pipelines/%d", r.s.BaseURL, p.ID)
	}
	if r.plan != nil { // the commit as the jobs see it, for people reading the message
		commitTitle, _ := r.plan.Variables.Get("CI_COMMIT_TITLE")
		author, _ := r.plan.Variables.Get("CI_COMMIT_AUTHOR") // "Name <email>", as GitLab
		name, _, _ := strings.Cut(author.Value, " <")
		e.Commit = notify.Commit{Title: commitTitle.Value, Author: name}
	}
	if p.MergeRequest != nil {
		e.MergeRequestIID = p.MergeRequest.IID
	}
	return e
}

func (r *recorder) notifyPipeline(p store.Pipeline, status notify.Status) {
	if r.s.Notify == nil {
		return
	}
	e := r.event(status)
	if p.StartedAt != nil && p.FinishedAt != nil {
		// What GitLab counts: the time its jobs ran, not the idle time
		// before a later manual or stop job.
		if jobs, err := r.s.Store.ListJobs(context.Background(), p.ID); err == nil {
			e.Pipeline.DurationSeconds = store.PipelineDuration(jobs, *p.FinishedAt).Seconds()
		}
	}
	r.s.Notify(e)
}

func (r *recorder) notifyJob(j store.Job, status notify.Status) {
	if r.s.Notify == nil || j.ID == 0 {
		return
	}
	e := r.event(status)
	e.Kind = notify.KindJob
	e.Job = &notify.Job{ID: j.ID, Name: j.Name, Stage: j.Stage, AllowFailure: j.AllowFailure, DurationSeconds: j.Duration.Seconds()}
	if r.s.BaseURL != "" {
		e.Job.URL = fmt.Sprintf("%s/jobs/%d", r.s.BaseURL, j.ID)
	}
	r.s.Notify(e)
}

// Broker tells subscribers (live pages) that a pipeline changed.
type Broker struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives a value (coalesced) whenever
// pipeline id changes, and a function to stop.
func (b *Broker) Subscribe(id int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int64]map[chan struct{}]struct{}{}
	}
	if b.subs[id] == nil {
		b.subs[id] = map[chan struct{}]struct{}{}
	}
	b.subs[id][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[id], ch)
		if len(b.subs[id]) == 0 {
			delete(b.subs, id)
		}
		b.mu.Unlock()
	}
}

// Publish wakes the subscribers of pipeline id. A nil Broker does nothing.
func (b *Broker) Publish(id int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
