package store

import (
	"context"
	"fmt"
	"time"
)

// Deployment statuses.
const (
	DeployCreated  = "created"
	DeployRunning  = "running"
	DeploySuccess  = "success"
	DeployFailed   = "failed"
	DeployCanceled = "canceled"
)

// Deployment is one deployment of a commit to an environment.
type Deployment struct {
	ID            int64  `json:"id"`
	EnvironmentID int64  `json:"environment_id"`
	PipelineID    *int64 `json:"pipeline_id,omitempty"`
	JobID         *int64 `json:"job_id,omitempty"`
	Ref           string `json:"ref,omitempty"`
	SHA           string `json:"sha"`
	Status        string `json:"status"`
	// Images maps a component to the image it deploys, by digest.
	Images     map[string]string `json:"images,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
}

const deploymentCols = "id, environment_id, pipeline_id, job_id, ref, sha, status, images, created_at, finished_at"

func scanDeployment(r interface{ Scan(...any) error }) (Deployment, error) {
	var d Deployment
	err := r.Scan(&d.ID, &d.EnvironmentID, &d.PipelineID, &d.JobID, &d.Ref, &d.SHA, &d.Status, jsonCol{&d.Images},
		timeCol{&d.CreatedAt}, nullTimeCol{&d.FinishedAt})
	return d, err
}

// CreateDeployment stores a new deployment (status created unless given).
func (s *Store) CreateDeployment(ctx context.Context, d Deployment) (Deployment, error) {
	if d.SHA == "" {
		return Deployment{}, invalid("deployment.sha", "must not be empty")
	}
	if d.Status == "" {
		d.Status = DeployCreated
	}
	if d.Status != DeployCreated && d.Status != DeployRunning {
		return Deployment{}, invalid("deployment.status", "a new deployment is created or running, not %q", d.Status)
	}
	if d.Images == nil {
		d.Images = map[string]string{}
	}
	d.CreatedAt = now()
	err := s.conn().row(ctx, `INSERT INTO deployments (environment_id, pipeline_id, job_id, ref, sha, status, images, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.EnvironmentID, d.PipelineID, d.JobID, d.Ref, d.SHA, d.Status, jsonArg{d.Images}, d.CreatedAt).Scan(&d.ID)
	if err != nil {
		return Deployment{}, fmt.Errorf("store: create deployment: %w", constraint(err, "deployment"))
	}
	return d, nil
}

// GetDeployment returns the deployment with this ID.
func (s *Store) GetDeployment(ctx context.Context, id int64) (Deployment, error) {
	d, err := scanDeployment(s.conn().row(ctx, "SELECT "+deploymentCols+" FROM deployments WHERE id = ?", id))
	if err != nil {
		return Deployment{}, fmt.Errorf("store: %w", notFound(err, "deployment", id))
	}
	return d, nil
}

// ListDeployments returns an environment's deployments, newest first
// (limit defaults to 50).
func (s *Store) ListDeployments(ctx context.Context, environmentID int64, limit, offset int) ([]Deployment, error) {
	limit, offset, err := page(limit, offset, "deployment_filter")
	if err != nil {
		return nil, err
	}
	rows, err := s.conn().query(ctx, "SELECT "+deploymentCols+" FROM deployments WHERE environment_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
		environmentID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("store: list deployments: %w", err)
	}
	return collect(rows, scanDeployment)
}

// SetDeploymentStatus moves a deployment to running, success, failed or
// canceled. Success also makes it its environment's last deployment, whose
// images the environment now runs, in the same transaction.
func (s *Store) SetDeploymentStatus(ctx context.Context, id int64, status string) (Deployment, error) {
	var finished *time.Time
	switch status {
	case DeployRunning:
	case DeploySuccess, DeployFailed, DeployCanceled:
		t := now()
		finished = &t
	default:
		return Deployment{}, invalid("deployment.status", "unknown status %q", status)
	}
	var d Deployment
	err := s.inTx(ctx, func(c conn) error {
		var err error
		d, err = scanDeployment(c.row(ctx, "UPDATE deployments SET status = ?, finished_at = ? WHERE id = ? RETURNING "+deploymentCols,
			status, finished, id))
		if err != nil {
			return notFound(err, "deployment", id)
		}
		if status != DeploySuccess {
			return nil
		}
		_, err = c.exec(ctx, "UPDATE environments SET last_deployment_id = ?, images = ?, updated_at = ? WHERE id = ?",
			d.ID, jsonArg{d.Images}, *finished, d.EnvironmentID)
		return err
	})
	if err != nil {
		return Deployment{}, fmt.Errorf("store: set deployment status: %w", err)
	}
	return d, nil
}
