package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Job is one attempt of one job of a pipeline. A retry is a new Job with the
// same name and the next Attempt.
type Job struct {
	ID           int64  `json:"id"`
	PipelineID   int64  `json:"pipeline_id"`
	Name         string `json:"name"`
	Stage        string `json:"stage"`
	Status       Status `json:"status"`
	AllowFailure bool   `json:"allow_failure"`
	// When is the job's when: (on_success, on_failure, always, manual, delayed).
	When    string `json:"when"`
	Attempt int    `json:"attempt"`
	// ExitCode is the script's exit status, nil until it exits.
	ExitCode *int `json:"exit_code,omitempty"`
	// FailureReason is GitLab's code (script_failure, runner_system_failure...).
	FailureReason string `json:"failure_reason,omitempty"`
	// Error says in words why the job failed.
	Error    string `json:"error,omitempty"`
	LogPath  string `json:"-"`
	Runner   string `json:"runner,omitempty"`
	Executor string `json:"executor,omitempty"`
	// ServerID is the server process that runs or ran the job (0: none).
	ServerID   int64         `json:"-"`
	CreatedAt  time.Time     `json:"created_at"`
	StartedAt  *time.Time    `json:"started_at,omitempty"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Duration   time.Duration `json:"duration_ns,omitempty"` // from StartedAt to FinishedAt
}

const jobCols = "id, pipeline_id, name, stage, status, allow_failure, run_when, attempt, exit_code, failure_reason, error, log_path, runner, executor, COALESCE(server_id, 0), created_at, started_at, finished_at"

func scanJob(r interface{ Scan(...any) error }) (Job, error) {
	var j Job
	err := r.Scan(&j.ID, &j.PipelineID, &j.Name, &j.Stage, &j.Status, &j.AllowFailure, &j.When, &j.Attempt, &j.ExitCode,
		&j.FailureReason, &j.Error, &j.LogPath, &j.Runner, &j.Executor, &j.ServerID,
		timeCol{&j.CreatedAt}, nullTimeCol{&j.StartedAt}, nullTimeCol{&j.FinishedAt})
	if j.StartedAt != nil && j.FinishedAt != nil {
		j.Duration = j.FinishedAt.Sub(*j.StartedAt)
	}
	return j, err
}

// CreateJob stores a new job of j.PipelineID. Status defaults to created,
// When to on_success, Attempt to 1.
func (s *Store) CreateJob(ctx context.Context, j Job) (Job, error) {
	switch {
	case j.Name == "":
		return Job{}, invalid("job.name", "must not be empty")
	case j.Stage == "":
		return Job{}, invalid("job.stage", "must not be empty")
	}
	if j.Status == "" {
		j.Status = Created
	}
	if !j.Status.Valid() {
		return Job{}, invalid("job.status", "unknown status %q", j.Status)
	}
	if j.When == "" {
		j.When = "on_success"
	}
	if j.Attempt == 0 {
		j.Attempt = 1
	}
	j.CreatedAt = now()
	err := s.conn().row(ctx, `INSERT INTO jobs (pipeline_id, name, stage, status, allow_failure, run_when, attempt, log_path, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		j.PipelineID, j.Name, j.Stage, j.Status, j.AllowFailure, j.When, j.Attempt, j.LogPath, j.CreatedAt).Scan(&j.ID)
	if err != nil {
		return Job{}, fmt.Errorf("store: create job %s: %w", j.Name, constraint(err, "job "+j.Name))
	}
	return j, nil
}

// GetJob returns the job with this ID.
func (s *Store) GetJob(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.conn().row(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return Job{}, fmt.Errorf("store: %w", notFound(err, "job", id))
	}
	return j, nil
}

// ListJobs returns every job (every attempt) of a pipeline, in creation order.
func (s *Store) ListJobs(ctx context.Context, pipelineID int64) ([]Job, error) {
	rows, err := s.conn().query(ctx, "SELECT "+jobCols+" FROM jobs WHERE pipeline_id = ? ORDER BY id", pipelineID)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	return collect(rows, scanJob)
}

// SetJobStatus moves an unfinished job to status: pending, manual (waiting
// to be played), canceled, skipped... Use StartJob and FinishJob for running
// and its results. A finished job is never changed: ErrConflict.
func (s *Store) SetJobStatus(ctx context.Context, id int64, status Status) (Job, error) {
	if !status.Valid() {
		return Job{}, invalid("job.status", "unknown status %q", status)
	}
	if status == Running {
		return Job{}, invalid("job.status", "use StartJob to run a job")
	}
	var finished *time.Time
	if status.Finished() {
		t := now()
		finished = &t
	}
	return s.updateJob(ctx, id, "set status", `status = ?, finished_at = ?`, status, finished)
}

// JobStart is where a job runs.
type JobStart struct {
	// Server runs the job: the job fails when that server is gone.
	Server   Server
	Executor string
	LogPath  string
}

// StartJob marks a job running; its runner is the server's name.
func (s *Store) StartJob(ctx context.Context, id int64, at JobStart) (Job, error) {
	return s.updateJob(ctx, id, "start", `status = 'running', server_id = ?, runner = ?, executor = ?, log_path = ?, started_at = ?`,
		nullID(at.Server.ID), at.Server.Name, at.Executor, at.LogPath, now())
}

// JobResult is how a job ended.
type JobResult struct {
	Status        Status // success, failed, canceled or skipped
	ExitCode      *int
	FailureReason string // GitLab's code, for failed jobs
	Error         string
}

// FinishJob records how a job ended.
func (s *Store) FinishJob(ctx context.Context, id int64, r JobResult) (Job, error) {
	if !r.Status.Finished() {
		return Job{}, invalid("job.status", "%q is not a finished status", r.Status)
	}
	t := now()
	return s.updateJob(ctx, id, "finish", `status = ?, exit_code = ?, failure_reason = ?, error = ?, finished_at = ?,
		started_at = COALESCE(started_at, ?)`,
		r.Status, r.ExitCode, r.FailureReason, r.Error, t, t)
}

// updateJob applies set to an unfinished job.
func (s *Store) updateJob(ctx context.Context, id int64, verb, set string, args ...any) (Job, error) {
	j, err := scanJob(s.conn().row(ctx, "UPDATE jobs SET "+set+" WHERE id = ? AND status NOT IN "+finishedSQL+" RETURNING "+jobCols,
		append(args, id)...))
	if err == nil {
		return j, nil
	}
	err = notFound(err, "job", id)
	if errors.Is(err, ErrNotFound) {
		// No row changed: is the job missing, or finished?
		if cur, getErr := s.GetJob(ctx, id); getErr == nil {
			err = fmt.Errorf("job %d (%s) is %s already: %w", id, cur.Name, cur.Status, ErrConflict)
		}
	}
	return Job{}, fmt.Errorf("store: %s job: %w", verb, err)
}

// nullID stores an ID of 0 as NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
