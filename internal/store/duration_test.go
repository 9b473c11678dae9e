package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// A review pipeline: build and deploy run 3 minutes (1 of them side by
// side), then the stop job is played two days later and runs 10 s. GitLab
// shows 3m10s, not two days.
func TestPipelineDurationCountsJobsNotIdleTime(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	jobs := []store.Job{
		{ID: 1, Name: "build", Attempt: 1, Status: store.Failed, StartedAt: at(0), FinishedAt: at(time.Minute)},
		// The retry replaces the failed attempt: only the latest counts.
		{ID: 2, Name: "build", Attempt: 2, Status: store.Success, StartedAt: at(0), FinishedAt: at(2 * time.Minute)},
		{ID: 3, Name: "lint", Attempt: 1, Status: store.Success, StartedAt: at(time.Minute), FinishedAt: at(90 * time.Second)},
		{ID: 4, Name: "deploy", Attempt: 1, Status: store.Success, StartedAt: at(2 * time.Minute), FinishedAt: at(3 * time.Minute)},
		{ID: 5, Name: "stop", Attempt: 1, Status: store.Success, StartedAt: at(48 * time.Hour), FinishedAt: at(48*time.Hour + 10*time.Second)},
		{ID: 6, Name: "never", Attempt: 1, Status: store.Skipped},
	}
	if got, want := store.PipelineDuration(jobs, t0.Add(72*time.Hour)), 3*time.Minute+10*time.Second; got != want {
		t.Errorf("PipelineDuration = %s, want %s", got, want)
	}
	// A job still running counts until now.
	running := []store.Job{{ID: 1, Name: "build", Attempt: 1, Status: store.Running, StartedAt: at(0)}}
	if got := store.PipelineDuration(running, t0.Add(5*time.Second)); got != 5*time.Second {
		t.Errorf("running: PipelineDuration = %s, want 5s", got)
	}
}

// The API and the UI read durations through FillDurations.
func TestFillDurationsFromStoredJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		p := mustPipeline(t, s, mustProject(t, s, "web").ID, "main")
		t0 := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
		for _, j := range []struct {
			name       string
			start, end time.Duration
		}{{"deploy", 0, time.Minute}, {"stop", 48 * time.Hour, 48*time.Hour + 20*time.Second}} {
			job := mustJob(t, s, p.ID, j.name)
			if err := s.Exec(ctx, "UPDATE jobs SET status = 'success', started_at = ?, finished_at = ? WHERE id = ?",
				t0.Add(j.start), t0.Add(j.end), job.ID); err != nil {
				t.Fatal(err)
			}
		}
		ps := []store.Pipeline{p}
		if err := s.FillDurations(ctx, ps); err != nil {
			t.Fatal(err)
		}
		if want := time.Minute + 20*time.Second; ps[0].Duration != want {
			t.Errorf("Duration = %s, want %s", ps[0].Duration, want)
		}
	})
}
