package pipelines

import (
	"context"
	"fmt"

	"github.com/slipway-cd/slipway/internal/ci"
)

// PlannedJob plans a pipeline again and returns one of its jobs, with its
// definition and variables (environment names, on_stop...).
func (s *Service) PlannedJob(ctx context.Context, pipelineID int64, name string) (*ci.PlannedJob, error) {
	p, err := s.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	project, err := s.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return nil, err
	}
	repo, err := s.RepoAt(ctx, project, p.SHA)
	if err != nil {
		return nil, err
	}
	plan, err := s.plan(ctx, project, repo, p)
	if err != nil {
		return nil, err
	}
	pj := plan.Job(name)
	if pj == nil {
		return nil, fmt.Errorf("pipeline %d has no job %q", pipelineID, name)
	}
	return pj, nil
}
