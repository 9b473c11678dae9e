package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Project is a git repository Slipway builds. Its webhook secret is not a
// field, so answering a Project as JSON never leaks it: see WebhookSecret.
type Project struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
	// CredentialsRef names where the server finds the repository's
	// credentials (e.g. "env:GIT_TOKEN"); it is never the secret itself.
	CredentialsRef string `json:"credentials_ref,omitempty"`
	DefaultBranch  string `json:"default_branch"`
	PipelineFile   string `json:"pipeline_file"`
	// Poll asks the server to fetch the repository for new commits, for
	// forges that cannot send webhooks.
	Poll bool `json:"poll,omitempty"`
	// Executor runs the project's jobs (shell, docker, kubernetes or
	// auto) instead of the server's executor; empty: the server's.
	Executor  string    `json:"executor,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Defaults of new projects.
const (
	DefaultBranch       = "main"
	DefaultPipelineFile = ".gitlab-ci.yml"
)

const projectCols = "id, name, repo_url, credentials_ref, default_branch, pipeline_file, poll, executor, created_at"

func scanProject(r interface{ Scan(...any) error }) (Project, error) {
	var p Project
	err := r.Scan(&p.ID, &p.Name, &p.RepoURL, &p.CredentialsRef, &p.DefaultBranch, &p.PipelineFile, &p.Poll, &p.Executor, timeCol{&p.CreatedAt})
	return p, err
}

func (p *Project) normalize() error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		return invalid("project.name", "must not be empty")
	}
	if strings.ContainsAny(p.Name, "/\\ \t\n") {
		return invalid("project.name", "%q must not contain slashes or spaces", p.Name)
	}
	if strings.TrimSpace(p.RepoURL) == "" {
		return invalid("project.repo_url", "must not be empty")
	}
	if strings.Contains(p.RepoURL, "@") && strings.Contains(p.RepoURL, "://") && strings.Contains(p.RepoURL[:strings.Index(p.RepoURL, "@")], ":") {
		// https://user:token@host/...: the token would be answered by the API.
		return invalid("project.repo_url", "must not hold a password; put it in a credentials reference")
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = DefaultBranch
	}
	if p.PipelineFile == "" {
		p.PipelineFile = DefaultPipelineFile
	}
	return nil
}

// CreateProject stores a new project and returns it with its ID. The name
// must be unique (ErrConflict otherwise).
func (s *Store) CreateProject(ctx context.Context, p Project) (Project, error) {
	if err := p.normalize(); err != nil {
		return Project{}, err
	}
	p.CreatedAt = now()
	err := s.conn().row(ctx, `INSERT INTO projects (name, repo_url, credentials_ref, default_branch, pipeline_file, poll, executor, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.RepoURL, p.CredentialsRef, p.DefaultBranch, p.PipelineFile, p.Poll, p.Executor, p.CreatedAt).Scan(&p.ID)
	if err != nil {
		return Project{}, fmt.Errorf("store: create project: %w", constraint(err, fmt.Sprintf("project %q", p.Name)))
	}
	return p, nil
}

// UpdateProject changes a project's name, repository, credentials
// reference, default branch, pipeline file, polling and executor.
func (s *Store) UpdateProject(ctx context.Context, p Project) (Project, error) {
	if err := p.normalize(); err != nil {
		return Project{}, err
	}
	row := s.conn().row(ctx, `UPDATE projects SET name = ?, repo_url = ?, credentials_ref = ?, default_branch = ?, pipeline_file = ?, poll = ?, executor = ?
		WHERE id = ? RETURNING `+projectCols,
		p.Name, p.RepoURL, p.CredentialsRef, p.DefaultBranch, p.PipelineFile, p.Poll, p.Executor, p.ID)
	out, err := scanProject(row)
	if err != nil {
		return Project{}, fmt.Errorf("store: update project: %w", notFound(constraint(err, fmt.Sprintf("project %q", p.Name)), "project", p.ID))
	}
	return out, nil
}

// GetProject returns the project with this ID.
func (s *Store) GetProject(ctx context.Context, id int64) (Project, error) {
	p, err := scanProject(s.conn().row(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ?", id))
	if err != nil {
		return Project{}, fmt.Errorf("store: %w", notFound(err, "project", id))
	}
	return p, nil
}

// GetProjectByName returns the project with this name.
func (s *Store) GetProjectByName(ctx context.Context, name string) (Project, error) {
	p, err := scanProject(s.conn().row(ctx, "SELECT "+projectCols+" FROM projects WHERE name = ?", name))
	if err != nil {
		return Project{}, fmt.Errorf("store: %w", notFound(err, "project", fmt.Sprintf("%q", name)))
	}
	return p, nil
}

// ListProjects returns every project, by name.
func (s *Store) ListProjects(ctx context.Context) ([]Project, error) {
	rows, err := s.conn().query(ctx, "SELECT "+projectCols+" FROM projects ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("store: list projects: %w", err)
	}
	return collect(rows, scanProject)
}

// DeleteProject deletes a project with everything that belongs to it.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "projects", "project", id)
}

// SetWebhookSecret sets the key that signs the project's incoming webhooks
// (empty: webhooks are refused).
func (s *Store) SetWebhookSecret(ctx context.Context, projectID int64, secret string) error {
	res, err := s.conn().exec(ctx, "UPDATE projects SET webhook_secret = ? WHERE id = ?", secret, projectID)
	if err != nil {
		return fmt.Errorf("store: set webhook secret: %w", err)
	}
	return mustAffect(res, "project", projectID)
}

// WebhookSecret returns the key that signs the project's incoming webhooks,
// for checking a signature; never answer it to a client.
func (s *Store) WebhookSecret(ctx context.Context, projectID int64) (string, error) {
	var secret string
	if err := s.conn().row(ctx, "SELECT webhook_secret FROM projects WHERE id = ?", projectID).Scan(&secret); err != nil {
		return "", fmt.Errorf("store: %w", notFound(err, "project", projectID))
	}
	return secret, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(r interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result, what string, id int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s %d: %w", what, id, ErrNotFound)
	}
	return nil
}

// deleteByID deletes one row of table.
func (s *Store) deleteByID(ctx context.Context, table, what string, id int64) error {
	res, err := s.conn().exec(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete %s %d: %w", what, id, err)
	}
	return mustAffect(res, what, id)
}
