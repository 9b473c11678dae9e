package store

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/tier"
)

// Environment states.
const (
	// EnvDeploying: a first deploy (or one after a stop) runs; the
	// environment becomes available once its routes answer.
	EnvDeploying = "deploying"
	EnvAvailable = "available"
	EnvStopping  = "stopping"
	EnvStopped   = "stopped"
	// EnvStopFailed: the stop job failed; the environment keeps its
	// resources and can be stopped again.
	EnvStopFailed = "stop_failed"
)

// Environment tiers, with GitLab's names (package tier).
const (
	TierProduction  = tier.Production
	TierStaging     = tier.Staging
	TierTesting     = tier.Testing
	TierDevelopment = tier.Development
	TierOther       = tier.Other
)

// Environment is where a project deploys: dev, staging, production,
// review/<branch>...
type Environment struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Name      string `json:"name"`
	// Slug is CI_ENVIRONMENT_SLUG, computed once from Name.
	Slug             string     `json:"slug"`
	URL              string     `json:"url,omitempty"`
	State            string     `json:"state"`
	Tier             string     `json:"tier"`
	LastDeploymentID *int64     `json:"last_deployment_id,omitempty"`
	AutoStopAt       *time.Time `json:"auto_stop_at,omitempty"`
	// OnStopJob is the job that stops the environment (environment:on_stop).
	OnStopJob string `json:"on_stop_job,omitempty"`
	// Images maps a component to what runs there, by digest
	// (name → "registry/app@sha256:..."), from the last successful deployment.
	Images map[string]string `json:"images,omitempty"`
	// StopJobID is the stop job attempt a server started for the current
	// stop (state stopping): how it ends decides between stopped and
	// stop_failed. Nil while the stop waits, or without a stop job.
	StopJobID *int64    `json:"stop_job_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const environmentCols = "id, project_id, name, slug, url, state, tier, last_deployment_id, auto_stop_at, on_stop_job, images, created_at, updated_at, stop_job_id"

func scanEnvironment(r interface{ Scan(...any) error }) (Environment, error) {
	var e Environment
	err := r.Scan(&e.ID, &e.ProjectID, &e.Name, &e.Slug, &e.URL, &e.State, &e.Tier, &e.LastDeploymentID,
		nullTimeCol{&e.AutoStopAt}, &e.OnStopJob, jsonCol{&e.Images}, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt}, &e.StopJobID)
	return e, err
}

// UpsertEnvironment creates the environment e.Name of e.ProjectID, or
// updates its URL, tier, on_stop job and auto-stop time, as a deployment to
// it does. It is then available, or e.State when that is EnvDeploying: a
// deploy that makes it available only once it serves. An available
// environment stays available either way (its running version serves
// during the deploy). Slug and tier are derived from the name when empty.
// ID, images and last deployment are not taken from e.
func (s *Store) UpsertEnvironment(ctx context.Context, e Environment) (Environment, error) {
	if e.Name == "" {
		return Environment{}, invalid("environment.name", "must not be empty")
	}
	if e.Slug == "" {
		e.Slug = slug.Environment(e.Name)
	}
	if e.Tier == "" {
		e.Tier = tier.Guess(e.Name)
	}
	if !tier.Valid(e.Tier) {
		return Environment{}, invalid("environment.tier", "unknown tier %q", e.Tier)
	}
	state := EnvAvailable
	if e.State == EnvDeploying {
		state = EnvDeploying
	}
	t := now()
	out, err := scanEnvironment(s.conn().row(ctx, `INSERT INTO environments (project_id, name, slug, url, state, tier, auto_stop_at, on_stop_job, images, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET url = excluded.url, tier = excluded.tier, auto_stop_at = excluded.auto_stop_at,
			on_stop_job = excluded.on_stop_job, updated_at = excluded.updated_at,
			state = CASE WHEN environments.state = 'available' THEN 'available' ELSE excluded.state END
		RETURNING `+environmentCols,
		e.ProjectID, e.Name, e.Slug, e.URL, state, e.Tier, e.AutoStopAt, e.OnStopJob, t, t))
	if err != nil {
		return Environment{}, fmt.Errorf("store: upsert environment %s: %w", e.Name, constraint(err, "environment slug "+e.Slug))
	}
	return out, nil
}

// GetEnvironment returns the environment with this ID.
func (s *Store) GetEnvironment(ctx context.Context, id int64) (Environment, error) {
	e, err := scanEnvironment(s.conn().row(ctx, "SELECT "+environmentCols+" FROM environments WHERE id = ?", id))
	if err != nil {
		return Environment{}, fmt.Errorf("store: %w", notFound(err, "environment", id))
	}
	return e, nil
}

// GetEnvironmentByName returns a project's environment called name.
func (s *Store) GetEnvironmentByName(ctx context.Context, projectID int64, name string) (Environment, error) {
	e, err := scanEnvironment(s.conn().row(ctx, "SELECT "+environmentCols+" FROM environments WHERE project_id = ? AND name = ?", projectID, name))
	if err != nil {
		return Environment{}, fmt.Errorf("store: %w", notFound(err, fmt.Sprintf("project %d environment", projectID), fmt.Sprintf("%q", name)))
	}
	return e, nil
}

// ListEnvironments returns a project's environments by name.
func (s *Store) ListEnvironments(ctx context.Context, projectID int64) ([]Environment, error) {
	rows, err := s.conn().query(ctx, "SELECT "+environmentCols+" FROM environments WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("store: list environments: %w", err)
	}
	return collect(rows, scanEnvironment)
}

// ListEnvironmentsToStop returns the available environments whose auto-stop
// time has come at t, for the auto-stop controller.
func (s *Store) ListEnvironmentsToStop(ctx context.Context, t time.Time) ([]Environment, error) {
	rows, err := s.conn().query(ctx, "SELECT "+environmentCols+" FROM environments WHERE state = 'available' AND auto_stop_at <= ? ORDER BY auto_stop_at, id", t)
	if err != nil {
		return nil, fmt.Errorf("store: list environments to stop: %w", err)
	}
	return collect(rows, scanEnvironment)
}

// ListEnvironmentsInState returns the environments of every project in
// state, for the controllers that move them on (stopping ones, say).
func (s *Store) ListEnvironmentsInState(ctx context.Context, state string) ([]Environment, error) {
	rows, err := s.conn().query(ctx, "SELECT "+environmentCols+" FROM environments WHERE state = ? ORDER BY id", state)
	if err != nil {
		return nil, fmt.Errorf("store: list %s environments: %w", state, err)
	}
	return collect(rows, scanEnvironment)
}

// BeginEnvironmentStop moves an environment to stopping, with no stop job
// attempt started for it yet (StopJobID nil).
func (s *Store) BeginEnvironmentStop(ctx context.Context, id int64) (Environment, error) {
	e, err := scanEnvironment(s.conn().row(ctx, "UPDATE environments SET state = 'stopping', stop_job_id = NULL, updated_at = ? WHERE id = ? RETURNING "+environmentCols, now(), id))
	if err != nil {
		return Environment{}, fmt.Errorf("store: begin environment stop: %w", notFound(err, "environment", id))
	}
	return e, nil
}

// SetEnvironmentStopJob records the stop job attempt that carries out a
// stopping environment's stop. It changes nothing once the environment left
// stopping (the job may have ended, and stopped it, already).
func (s *Store) SetEnvironmentStopJob(ctx context.Context, id, jobID int64) error {
	if _, err := s.conn().exec(ctx, "UPDATE environments SET stop_job_id = ? WHERE id = ? AND state = 'stopping'", jobID, id); err != nil {
		return fmt.Errorf("store: set environment %d stop job: %w", id, err)
	}
	return nil
}

// SetEnvironmentState moves an environment to deploying, available,
// stopping, stopped or stop_failed.
func (s *Store) SetEnvironmentState(ctx context.Context, id int64, state string) (Environment, error) {
	switch state {
	case EnvDeploying, EnvAvailable, EnvStopping, EnvStopped, EnvStopFailed:
	default:
		return Environment{}, invalid("environment.state", "unknown state %q", state)
	}
	e, err := scanEnvironment(s.conn().row(ctx, "UPDATE environments SET state = ?, updated_at = ? WHERE id = ? RETURNING "+environmentCols, state, now(), id))
	if err != nil {
		return Environment{}, fmt.Errorf("store: set environment state: %w", notFound(err, "environment", id))
	}
	return e, nil
}

// DeleteEnvironment deletes an environment and its deployments.
func (s *Store) DeleteEnvironment(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "environments", "environment", id)
}
