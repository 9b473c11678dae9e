package engine

import (
	"time"

	"github.com/slipway-cd/slipway/internal/workspace"
)

// Status is the state of a job or of a whole pipeline, with GitLab's names.
type Status string

// Job and pipeline statuses. A finished job is success, failed, skipped,
// manual (a manual job nobody played) or canceled. A finished pipeline is
// success, failed, canceled, or manual when a blocking manual job
// (allow_failure: false) kept later jobs from running and nothing failed:
// GitLab's API calls that pipeline "manual" too (its UI says "blocked").
const (
	Created  Status = "created"
	Pending  Status = "pending"
	Running  Status = "running"
	Success  Status = "success"
	Failed   Status = "failed"
	Skipped  Status = "skipped"
	Manual   Status = "manual"
	Canceled Status = "canceled"
)

// Failure reasons, with GitLab's names (they are also the values of
// retry:when).
const (
	ScriptFailure        = "script_failure"
	JobExecutionTimeout  = "job_execution_timeout"
	RunnerSystemFailure  = "runner_system_failure"
	UnknownFailure       = "unknown_failure"
	reasonCanceled       = "canceled"
	reasonBlocked        = "blocked"
	reasonUpstreamFailed = "upstream_failed"
	reasonNoFailure      = "no_failure"
)

// Result is a finished pipeline. Its JSON is `slipway run --report`; other
// tools read it, so fields are only ever added.
type Result struct {
	Status     Status      `json:"status"`
	PipelineID int64       `json:"pipeline_id"`
	DurationMS int64       `json:"duration_ms"`
	Jobs       []JobResult `json:"jobs"`

	Duration time.Duration `json:"-"`
}

// Job returns the result of the job called name, nil if there is none.
func (r *Result) Job(name string) *JobResult {
	for i := range r.Jobs {
		if r.Jobs[i].Name == name {
			return &r.Jobs[i]
		}
	}
	return nil
}

// JobResult is one job of a finished pipeline.
type JobResult struct {
	Name   string `json:"name"`
	Stage  string `json:"stage"`
	Status Status `json:"status"`
	// AllowFailure is, for a failed job, whether that failure was allowed
	// (allow_failure: true, or its exit code is in allow_failure:exit_codes);
	// for the others, whether the job is allowed to fail at all.
	AllowFailure bool `json:"allow_failure"`
	// ExitCode is the last attempt's script exit code: -1 when the script
	// was killed (timeout, cancel) or never started, 0 for jobs that did not
	// run.
	ExitCode int `json:"exit_code"`
	Attempts int `json:"attempts"`
	// DurationMS runs from the first attempt's start to the last one's end.
	DurationMS int64 `json:"duration_ms"`
	// FailureReason is GitLab's reason for failed and canceled jobs
	// (script_failure, job_execution_timeout, runner_system_failure...), and
	// for skipped ones why: upstream_failed, no_failure (an on_failure job in
	// a pipeline without failures), blocked (behind a blocking manual job)
	// or manual (needs a manual job nobody played).
	FailureReason string `json:"failure_reason,omitempty"`
	// Detail says the same for people: "exit code 3", "blocked by manual job \"deploy\"".
	Detail string `json:"detail,omitempty"`
	// JobID is CI_JOB_ID of the last attempt.
	JobID int64 `json:"job_id,omitempty"`
	// ArtifactsDir holds the job's artifacts after the pipeline.
	ArtifactsDir string `json:"artifacts_dir,omitempty"`
	// ArtifactsExpireAt is when artifacts:expire_in removes them; absent
	// when they do not expire.
	ArtifactsExpireAt time.Time `json:"artifacts_expire_at,omitzero"`
	// Dotenv are the variables of the job's dotenv reports, which the jobs
	// that depend on it get.
	Dotenv []workspace.EnvVar `json:"dotenv,omitempty"`

	Duration time.Duration `json:"-"`
}
