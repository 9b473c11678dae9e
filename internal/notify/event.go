// Package notify tells people and forges about pipelines and jobs: Slack
// messages, signed generic webhooks and commit statuses on GitHub and GitLab,
// sent in the background with retries so a slow receiver never holds up a
// pipeline.
package notify

import (
	"strconv"
	"time"
)

// Kind says whether an event is about a whole pipeline or one job.
type Kind string

// Kinds of events.
const (
	KindPipeline Kind = "pipeline"
	KindJob      Kind = "job"
)

// Status is a pipeline's or job's state, named as GitLab names them.
type Status string

// Statuses.
const (
	Pending  Status = "pending"
	Running  Status = "running"
	Success  Status = "success"
	Failed   Status = "failed"
	Canceled Status = "canceled"
	Skipped  Status = "skipped"
	Manual   Status = "manual"
)

var (
	kinds    = []Kind{KindPipeline, KindJob}
	statuses = []Status{Pending, Running, Success, Failed, Canceled, Skipped, Manual}
)

// Event is one state change of a pipeline or a job. Its JSON form is the
// body of generic webhooks (with "event" added), see docs/notifications.md.
type Event struct {
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Time is when the state changed.
	Time     time.Time `json:"time"`
	Project  Project   `json:"project"`
	Pipeline Pipeline  `json:"pipeline"`
	// Job is set for job events only.
	Job *Job `json:"job,omitempty"`
	// Ref is the branch or tag name; Tag tells which.
	Ref    string `json:"ref"`
	Tag    bool   `json:"tag,omitempty"`
	SHA    string `json:"sha"`
	Commit Commit `json:"commit,omitzero"`
	// MergeRequestIID is set for merge request pipelines.
	MergeRequestIID int64 `json:"merge_request_iid,omitempty"`
	// Detail says more in one sentence: what a GitOps pass changed, the
	// error of a failed deploy.
	Detail string `json:"detail,omitempty"`
}

// Project is the Slipway project a pipeline belongs to.
type Project struct {
	Name string `json:"name"`
	// Repo is the repository's path on its forge (owner/name on GitHub,
	// group/sub/name on GitLab): where commit statuses go.
	Repo string `json:"repo,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Pipeline identifies a pipeline.
type Pipeline struct {
	ID     int64  `json:"id"`
	URL    string `json:"url,omitempty"`
	Source string `json:"source,omitempty"`
	// DurationSeconds is set once the pipeline has finished.
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// Job identifies a job.
type Job struct {
	ID              int64   `json:"id"`
	Name            string  `json:"name"`
	Stage           string  `json:"stage,omitempty"`
	URL             string  `json:"url,omitempty"`
	AllowFailure    bool    `json:"allow_failure,omitempty"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// Commit describes the pipeline's commit for humans.
type Commit struct {
	Title  string `json:"title,omitempty"`
	Author string `json:"author,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Name is the event's name as config files filter on it: "pipeline.failed",
// "job.success"...
func (e Event) Name() string { return string(e.Kind) + "." + string(e.Status) }

// subject is what the event is about, for logs and to know which queued
// event supersedes which: the pipeline, or one job of it.
func (e Event) subject() string {
	s := e.Project.Name + "#" + strconv.FormatInt(e.Pipeline.ID, 10)
	if e.Job != nil {
		s += "/job/" + strconv.FormatInt(e.Job.ID, 10)
	}
	return s
}

// finished tells whether the status is final.
func (s Status) finished() bool {
	return s == Success || s == Failed || s == Canceled || s == Skipped
}

// title is a short human sentence: "Pipeline #42 failed", "Job test passed".
func (e Event) title() string {
	verb := map[Status]string{
		Pending: "is pending", Running: "is running", Success: "passed", Failed: "failed",
		Canceled: "was canceled", Skipped: "was skipped", Manual: "waits for a manual action",
	}[e.Status]
	if verb == "" {
		verb = string(e.Status)
	}
	if e.Job != nil {
		if e.Status == Failed && e.Job.AllowFailure {
			verb = "failed (allowed to fail)"
		}
		return "Job " + e.Job.Name + " " + verb
	}
	return "Pipeline #" + strconv.FormatInt(e.Pipeline.ID, 10) + " " + verb
}

func (e Event) duration() time.Duration {
	d := e.Pipeline.DurationSeconds
	if e.Job != nil {
		d = e.Job.DurationSeconds
	}
	return time.Duration(d * float64(time.Second)).Round(time.Second)
}

// targetURL is the page of the job or pipeline.
func (e Event) targetURL() string {
	if e.Job != nil && e.Job.URL != "" {
		return e.Job.URL
	}
	return e.Pipeline.URL
}
