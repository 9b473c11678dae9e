package server

import (
	"context"
	"html/template"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/server/graph"
	"github.com/slipway-cd/slipway/internal/store"
)

// graphShapes caches each pipeline's stages and needs: they never change
// (a retry plans the same commit again), and finding them means planning
// the commit again, too slow for every live refresh of a page.
var graphShapes = &shapeCache{max: 512}

type shapeKey struct {
	pipes *pipelines.Service // servers in one process (tests) share the cache
	id    int64
}

type shapeCache struct {
	mu  sync.Mutex
	max int
	m   map[shapeKey]pipelines.Graph
}

func (c *shapeCache) get(k shapeKey) (pipelines.Graph, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[k]
	return g, ok
}

func (c *shapeCache) put(k shapeKey, g pipelines.Graph) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[shapeKey]pipelines.Graph{} // simple bound: start over
	}
	c.m[k] = g
}

// uiGraph draws a pipeline's jobs: by the plan's stages and needs when the
// commit can be planned again, else by the stored jobs alone (stages in
// order of first appearance, no edges).
func (s *Server) uiGraph(ctx context.Context, pipelineID int64, jobs []store.Job) template.HTML {
	if len(jobs) == 0 {
		return ""
	}
	k := shapeKey{s.Pipes, pipelineID}
	shape, ok := graphShapes.get(k)
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		g, err := s.Pipes.Graph(ctx, pipelineID)
		if err != nil {
			s.log.Warn("ui: pipeline graph without needs", "pipeline", pipelineID, "err", err)
		} else {
			shape, ok = g, true
			graphShapes.put(k, g)
		}
	}
	stages := shape.Stages
	if !ok {
		seen := map[string]bool{}
		for _, j := range jobs {
			if !seen[j.Stage] {
				seen[j.Stage] = true
				stages = append(stages, j.Stage)
			}
		}
	}
	boxes := make([]graph.Job, len(jobs))
	for i, j := range jobs {
		boxes[i] = graph.Job{Name: j.Name, Stage: j.Stage, Status: string(j.Status), URL: jobURL(j.ID), Needs: shape.Needs[j.Name]}
	}
	return graph.SVG(stages, boxes)
}
