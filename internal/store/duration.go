package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// PipelineDuration is what GitLab counts as a pipeline's duration: the time
// during which at least one of its jobs ran (the union of the running
// intervals of each job's latest attempt that started). Time when no job
// ran, such as the hours before a manual or stop job is played, does not
// count. A job still running counts until now.
func PipelineDuration(jobs []Job, now time.Time) time.Duration {
	latest := map[string]Job{}
	for _, j := range jobs {
		if l, ok := latest[j.Name]; !ok || j.Attempt > l.Attempt || j.Attempt == l.Attempt && j.ID > l.ID {
			latest[j.Name] = j
		}
	}
	type span struct{ from, to time.Time }
	var spans []span
	for _, j := range latest {
		if j.StartedAt == nil {
			continue
		}
		switch j.Status {
		case Success, Failed, Running, Canceled:
		default:
			continue
		}
		to := now
		if j.FinishedAt != nil {
			to = *j.FinishedAt
		}
		if to.After(*j.StartedAt) {
			spans = append(spans, span{*j.StartedAt, to})
		}
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].from.Before(spans[b].from) })
	var total time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case !s.from.After(cur.to):
			if s.to.After(cur.to) {
				cur.to = s.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = s
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// FillDurations sets the Duration of each pipeline from its jobs, with one
// query for all of them.
func (s *Store) FillDurations(ctx context.Context, ps []Pipeline) error {
	if len(ps) == 0 {
		return nil
	}
	args := make([]any, len(ps))
	for i, p := range ps {
		args[i] = p.ID
	}
	q := "SELECT " + jobCols + " FROM jobs WHERE pipeline_id IN (?" + strings.Repeat(", ?", len(ps)-1) + ") ORDER BY id"
	rows, err := s.conn().query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: pipeline durations: %w", err)
	}
	jobs, err := collect(rows, scanJob)
	if err != nil {
		return err
	}
	byPipeline := map[int64][]Job{}
	for _, j := range jobs {
		byPipeline[j.PipelineID] = append(byPipeline[j.PipelineID], j)
	}
	now := time.Now()
	for i := range ps {
		ps[i].Duration = PipelineDuration(byPipeline[ps[i].ID], now)
	}
	return nil
}
