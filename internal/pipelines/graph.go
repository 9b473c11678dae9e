package pipelines

import (
	"context"
	"fmt"
)

// Graph is the shape of a pipeline, for drawing it: its stages in order
// and the jobs each job needs.
type Graph struct {
	Stages []string
	// Needs maps a job to the jobs it needs. A job that is not a key waits
	// for all jobs of the earlier stages (no needs: in its file).
	Needs map[string][]string
}

// Graph returns a pipeline's stages and needs. The store keeps jobs, not
// the DAG, so the pipeline's commit is planned again: planning is
// deterministic, as Retry relies on too.
func (s *Service) Graph(ctx context.Context, pipelineID int64) (Graph, error) {
	p, err := s.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return Graph{}, fmt.Errorf("graph of pipeline %d: %w", pipelineID, err)
	}
	project, err := s.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return Graph{}, fmt.Errorf("graph of pipeline %d: %w", pipelineID, err)
	}
	repo, err := s.RepoAt(ctx, project, p.SHA)
	if err != nil {
		return Graph{}, fmt.Errorf("graph of pipeline %d: %w", pipelineID, err)
	}
	plan, err := s.plan(ctx, project, repo, p)
	if err != nil {
		return Graph{}, fmt.Errorf("graph of pipeline %d: planning again: %w", pipelineID, err)
	}
	g := Graph{Stages: plan.Stages, Needs: map[string][]string{}}
	for _, j := range plan.Jobs {
		if j.Needs == nil {
			continue
		}
		names := make([]string, 0, len(j.Needs))
		for _, n := range j.Needs {
			names = append(names, n.Job)
		}
		g.Needs[j.Name] = names
	}
	return g, nil
}
