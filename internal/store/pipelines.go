package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Pipeline sources (CI_PIPELINE_SOURCE), with GitLab's names.
const (
	SourcePush         = "push"
	SourceMergeRequest = "merge_request_event"
	SourceSchedule     = "schedule"
	SourceWeb          = "web"
	SourceAPI          = "api"
	SourceTrigger      = "trigger"
)

// Pipeline is one run of a project's pipeline file at one commit.
type Pipeline struct {
	ID        int64 `json:"id"`
	ProjectID int64 `json:"project_id"`
	// Number counts the project's pipelines from 1 (GitLab's iid).
	Number    int64  `json:"number"`
	Source    string `json:"source"`
	Ref       string `json:"ref"`
	Tag       bool   `json:"tag"`
	SHA       string `json:"sha"`
	BeforeSHA string `json:"before_sha,omitempty"`
	Status    Status `json:"status"`
	// Variables are the pipeline's own (manual run, schedule, trigger).
	Variables    map[string]string `json:"variables,omitempty"`
	MergeRequest *MergeRequest     `json:"merge_request,omitempty"`
	// Error says why a pipeline failed without running (bad file, restart).
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// ServerID is the server process that runs or last ran the pipeline
	// (0: none); only it changes the pipeline's status while it is active.
	ServerID int64 `json:"-"`
	// CancelRequestedAt is when a cancel was asked (of any server) since
	// the pipeline last started: the server that runs it cancels its run.
	CancelRequestedAt *time.Time `json:"cancel_requested_at,omitempty"`
	// Duration is how long its jobs ran (PipelineDuration), set by
	// FillDurations: not the wall time from start to finish.
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// MergeRequest is what a merge request pipeline knows of its merge request
// (the CI_MERGE_REQUEST_* variables).
type MergeRequest struct {
	IID          int64    `json:"iid"`
	Title        string   `json:"title,omitempty"`
	Action       string   `json:"action,omitempty"`
	SourceBranch string   `json:"source_branch"`
	SourceSHA    string   `json:"source_sha,omitempty"`
	TargetBranch string   `json:"target_branch"`
	TargetSHA    string   `json:"target_sha,omitempty"`
	DiffBaseSHA  string   `json:"diff_base_sha,omitempty"`
	Labels       []string `json:"labels,omitempty"`
	Author       string   `json:"author,omitempty"`
	URL          string   `json:"url,omitempty"`
}

const pipelineCols = "id, project_id, number, source, ref, tag, sha, before_sha, status, variables, merge_request, error, created_at, started_at, finished_at, COALESCE(server_id, 0), cancel_requested_at"

func scanPipeline(r interface{ Scan(...any) error }) (Pipeline, error) {
	var p Pipeline
	err := r.Scan(&p.ID, &p.ProjectID, &p.Number, &p.Source, &p.Ref, &p.Tag, &p.SHA, &p.BeforeSHA, &p.Status,
		jsonCol{&p.Variables}, jsonCol{&p.MergeRequest}, &p.Error,
		timeCol{&p.CreatedAt}, nullTimeCol{&p.StartedAt}, nullTimeCol{&p.FinishedAt}, &p.ServerID, nullTimeCol{&p.CancelRequestedAt})
	return p, err
}

// CreatePipeline stores a new pipeline of p.ProjectID and gives it the
// project's next number. Status defaults to created; p.ServerID is the
// server that will run it.
func (s *Store) CreatePipeline(ctx context.Context, p Pipeline) (Pipeline, error) {
	switch {
	case p.Source == "":
		return Pipeline{}, invalid("pipeline.source", "must not be empty")
	case p.Ref == "":
		return Pipeline{}, invalid("pipeline.ref", "must not be empty")
	case p.SHA == "":
		return Pipeline{}, invalid("pipeline.sha", "must not be empty")
	}
	if p.Status == "" {
		p.Status = Created
	}
	if !p.Status.Valid() {
		return Pipeline{}, invalid("pipeline.status", "unknown status %q", p.Status)
	}
	if p.Variables == nil {
		p.Variables = map[string]string{}
	}
	p.CreatedAt = now()
	var mr any // NULL, not "null", when there is none
	if p.MergeRequest != nil {
		mr = jsonArg{p.MergeRequest}
	}
	err := s.inTx(ctx, func(c conn) error {
		// The row lock of this UPDATE serialises concurrent creations in one
		// project, so numbers are never given twice.
		err := c.row(ctx, "UPDATE projects SET pipeline_counter = pipeline_counter + 1 WHERE id = ? RETURNING pipeline_counter",
			p.ProjectID).Scan(&p.Number)
		if err != nil {
			return notFound(err, "project", p.ProjectID)
		}
		return c.row(ctx, `INSERT INTO pipelines (project_id, number, source, ref, tag, sha, before_sha, status, variables, merge_request, error, created_at, server_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.ProjectID, p.Number, p.Source, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Status, jsonArg{p.Variables}, mr, p.Error, p.CreatedAt,
			nullID(p.ServerID)).Scan(&p.ID)
	})
	if err != nil {
		return Pipeline{}, fmt.Errorf("store: create pipeline: %w", err)
	}
	return p, nil
}

// GetPipeline returns the pipeline with this ID.
func (s *Store) GetPipeline(ctx context.Context, id int64) (Pipeline, error) {
	p, err := scanPipeline(s.conn().row(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE id = ?", id))
	if err != nil {
		return Pipeline{}, fmt.Errorf("store: %w", notFound(err, "pipeline", id))
	}
	return p, nil
}

// GetPipelineByNumber returns pipeline number n of a project.
func (s *Store) GetPipelineByNumber(ctx context.Context, projectID, n int64) (Pipeline, error) {
	p, err := scanPipeline(s.conn().row(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE project_id = ? AND number = ?", projectID, n))
	if err != nil {
		return Pipeline{}, fmt.Errorf("store: %w", notFound(err, fmt.Sprintf("project %d pipeline", projectID), n))
	}
	return p, nil
}

// PipelineFilter selects pipelines; zero fields select everything.
type PipelineFilter struct {
	ProjectID int64
	Ref       string
	Status    Status
	Source    string
	// Limit is the page size (default 50, at most 1000); Offset skips.
	Limit, Offset int
}

// ListPipelines returns the pipelines f selects, newest first.
func (s *Store) ListPipelines(ctx context.Context, f PipelineFilter) ([]Pipeline, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.ProjectID != 0 {
		add("project_id = ?", f.ProjectID)
	}
	if f.Ref != "" {
		add("ref = ?", f.Ref)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	q := "SELECT " + pipelineCols + " FROM pipelines"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit, offset, err := page(f.Limit, f.Offset, "pipeline_filter")
	if err != nil {
		return nil, err
	}
	q += " ORDER BY id DESC LIMIT ? OFFSET ?"
	rows, err := s.conn().query(ctx, q, append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("store: list pipelines: %w", err)
	}
	return collect(rows, scanPipeline)
}

// page checks and defaults a limit and an offset.
func page(limit, offset int, entity string) (int, int, error) {
	switch {
	case limit < 0 || limit > 1000:
		return 0, 0, invalid(entity+".limit", "%d: want 1 to 1000", limit)
	case offset < 0:
		return 0, 0, invalid(entity+".offset", "%d: must not be negative", offset)
	case limit == 0:
		limit = 50
	}
	return limit, offset, nil
}

// SetPipelineStatus moves a pipeline to status. Running sets started_at
// (once); success, failed, canceled, skipped and manual set finished_at,
// any other status clears it (a retried pipeline runs again). errText is
// stored as the pipeline's error (empty clears it).
func (s *Store) SetPipelineStatus(ctx context.Context, id int64, status Status, errText string) (Pipeline, error) {
	return s.setPipelineStatus(ctx, id, status, errText, "")
}

// SetRunStatus is SetPipelineStatus for the server that runs the pipeline:
// it changes nothing (ErrConflict) unless the pipeline is still active and
// claimed by server, so that a server taken for dead, whose work was failed
// and maybe retried elsewhere, cannot overwrite what others decided.
func (s *Store) SetRunStatus(ctx context.Context, server, id int64, status Status, errText string) (Pipeline, error) {
	p, err := s.setPipelineStatus(ctx, id, status, errText,
		" AND COALESCE(server_id, 0) = ? AND status IN ('created', 'pending', 'running')", server)
	if errors.Is(err, ErrNotFound) {
		if cur, getErr := s.GetPipeline(ctx, id); getErr == nil {
			err = fmt.Errorf("store: set pipeline status: pipeline %d is %s and no longer run by server %d: %w", id, cur.Status, server, ErrConflict)
		}
	}
	return p, err
}

func (s *Store) setPipelineStatus(ctx context.Context, id int64, status Status, errText, cond string, condArgs ...any) (Pipeline, error) {
	if !status.Valid() {
		return Pipeline{}, invalid("pipeline.status", "unknown status %q", status)
	}
	t := now()
	var finished *time.Time
	if status.Finished() || status == Manual {
		finished = &t
	}
	var started *time.Time
	if status == Running {
		started = &t
	}
	args := append([]any{status, errText, started, finished, id}, condArgs...)
	p, err := scanPipeline(s.conn().row(ctx, `UPDATE pipelines SET status = ?, error = ?,
			started_at = COALESCE(started_at, ?), finished_at = ?
		WHERE id = ?`+cond+` RETURNING `+pipelineCols, args...))
	if err != nil {
		return Pipeline{}, fmt.Errorf("store: set pipeline status: %w", notFound(err, "pipeline", id))
	}
	return p, nil
}

// ClaimPipeline makes server the runner of a pipeline that no server runs
// (finished, or waiting for a manual job), to run jobs of it again: the
// pipeline becomes pending, its error cleared. A pipeline that is still
// active (created, pending or running) is someone's: ErrConflict. Two
// servers retrying one pipeline at once never both win. A cancel asked of
// the earlier run is forgotten: it must not cancel the new one.
func (s *Store) ClaimPipeline(ctx context.Context, server, id int64) (Pipeline, error) {
	p, err := scanPipeline(s.conn().row(ctx, `UPDATE pipelines SET status = 'pending', error = '', finished_at = NULL, server_id = ?, cancel_requested_at = NULL
		WHERE id = ? AND status NOT IN ('created', 'pending', 'running') RETURNING `+pipelineCols, nullID(server), id))
	if err == nil {
		return p, nil
	}
	err = notFound(err, "pipeline", id)
	if errors.Is(err, ErrNotFound) {
		if cur, getErr := s.GetPipeline(ctx, id); getErr == nil {
			err = fmt.Errorf("pipeline %d is %s: %w", id, cur.Status, ErrConflict)
		}
	}
	return Pipeline{}, fmt.Errorf("store: claim pipeline: %w", err)
}

// RequestCancel records that a pipeline is to be canceled, so that the
// server that runs it, whichever it is, cancels it (CancelRequested). A
// pipeline that is no longer active cannot be canceled: ErrConflict. Asking
// twice keeps the first time.
func (s *Store) RequestCancel(ctx context.Context, id int64) (Pipeline, error) {
	p, err := scanPipeline(s.conn().row(ctx, `UPDATE pipelines SET cancel_requested_at = COALESCE(cancel_requested_at, ?)
		WHERE id = ? AND status IN ('created', 'pending', 'running') RETURNING `+pipelineCols, now(), id))
	if err == nil {
		return p, nil
	}
	err = notFound(err, "pipeline", id)
	if errors.Is(err, ErrNotFound) {
		if cur, getErr := s.GetPipeline(ctx, id); getErr == nil {
			err = fmt.Errorf("pipeline %d is %s, not running: %w", id, cur.Status, ErrConflict)
		}
	}
	return Pipeline{}, fmt.Errorf("store: request cancel: %w", err)
}

// CancelRequested returns the active pipelines of server that were asked
// to be canceled: level-based, a pipeline stays listed until its run ends.
func (s *Store) CancelRequested(ctx context.Context, server int64) ([]int64, error) {
	rows, err := s.conn().query(ctx, `SELECT id FROM pipelines WHERE server_id = ? AND cancel_requested_at IS NOT NULL
		AND status IN ('created', 'pending', 'running') ORDER BY id`, server)
	if err != nil {
		return nil, fmt.Errorf("store: pipelines to cancel: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
}
