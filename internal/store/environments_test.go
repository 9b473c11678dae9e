package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

func TestTriggerTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		tt, token, err := s.CreateTriggerToken(ctx, pid, "deploy script")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(token, "slpt-") || len(token) < 40 || !strings.HasPrefix(token, tt.Prefix) || tt.LastUsedAt != nil {
			t.Errorf("token %q, record %+v", token, tt)
		}
		used, err := s.UseTriggerToken(ctx, token)
		if err != nil || used.ID != tt.ID || used.ProjectID != pid || used.LastUsedAt == nil {
			t.Errorf("UseTriggerToken = %+v, %v; want the token's record, used now", used, err)
		}
		if _, err := s.UseTriggerToken(ctx, token+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a wrong token: %v; want ErrNotFound", err)
		}
		list, err := s.ListTriggerTokens(ctx, pid)
		b, _ := json.Marshal(list)
		if err != nil || len(list) != 1 || strings.Contains(string(b), token) {
			t.Errorf("ListTriggerTokens = %s, %v; want one record without the token", b, err)
		}
		if err := s.DeleteTriggerToken(ctx, tt.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseTriggerToken(ctx, token); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a revoked token: %v; want ErrNotFound", err)
		}
	})
}

func TestEnvironmentsAndDeployments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		pl := mustPipeline(t, s, pid, "login")
		job := mustJob(t, s, pl.ID, "deploy_review")

		stopAt := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		review, err := s.UpsertEnvironment(ctx, store.Environment{ProjectID: pid, Name: "review/login", URL: "http://login.review.local",
			OnStopJob: "stop_review", AutoStopAt: &stopAt})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(review.Slug, "review-login-") || review.State != store.EnvAvailable ||
			review.Tier != store.TierDevelopment || !review.AutoStopAt.Equal(stopAt) || review.OnStopJob != "stop_review" {
			t.Errorf("review environment = %+v", review)
		}
		prod, err := s.UpsertEnvironment(ctx, store.Environment{ProjectID: pid, Name: "production"})
		if err != nil || prod.Slug != "production" || prod.Tier != store.TierProduction {
			t.Errorf("production = %+v, %v", prod, err)
		}
		_, err = s.UpsertEnvironment(ctx, store.Environment{ProjectID: pid, Name: "x", Tier: "moon"})
		wantField(t, err, "environment.tier")

		// Stopped, then deployed again: the same environment, available.
		if e, err := s.SetEnvironmentState(ctx, review.ID, store.EnvStopped); err != nil || e.State != store.EnvStopped {
			t.Fatalf("SetEnvironmentState = %+v, %v", e, err)
		}
		again, err := s.UpsertEnvironment(ctx, store.Environment{ProjectID: pid, Name: "review/login", URL: "http://new.review.local"})
		if err != nil || again.ID != review.ID || again.State != store.EnvAvailable || again.URL != "http://new.review.local" || again.AutoStopAt != nil {
			t.Errorf("upsert of a stopped environment = %+v, %v", again, err)
		}
		if got, err := s.GetEnvironmentByName(ctx, pid, "review/login"); err != nil || got.ID != review.ID {
			t.Errorf("GetEnvironmentByName = %+v, %v", got, err)
		}
		if es, err := s.ListEnvironments(ctx, pid); err != nil || len(es) != 2 || es[0].Name != "production" {
			t.Errorf("ListEnvironments = %+v, %v", es, err)
		}

		// Auto-stop: only available environments whose time has come.
		s.UpsertEnvironment(ctx, store.Environment{ProjectID: pid, Name: "review/login", AutoStopAt: &stopAt})
		if es, err := s.ListEnvironmentsToStop(ctx, stopAt.Add(-time.Second)); err != nil || len(es) != 0 {
			t.Errorf("to stop before the time = %+v, %v", es, err)
		}
		if es, err := s.ListEnvironmentsToStop(ctx, stopAt); err != nil || len(es) != 1 || es[0].ID != review.ID {
			t.Errorf("to stop at the time = %+v, %v", es, err)
		}

		// Deployments: a success becomes the environment's last one, with its images.
		images := map[string]string{"app": "127.0.0.1:5000/web@sha256:" + strings.Repeat("a", 64)}
		d1, err := s.CreateDeployment(ctx, store.Deployment{EnvironmentID: prod.ID, PipelineID: &pl.ID, JobID: &job.ID, Ref: "main", SHA: "aaaa", Images: images})
		if err != nil || d1.Status != store.DeployCreated {
			t.Fatalf("CreateDeployment = %+v, %v", d1, err)
		}
		if d, err := s.SetDeploymentStatus(ctx, d1.ID, store.DeploySuccess); err != nil || d.Status != store.DeploySuccess || d.FinishedAt == nil {
			t.Fatalf("SetDeploymentStatus(success) = %+v, %v", d, err)
		}
		d2, _ := s.CreateDeployment(ctx, store.Deployment{EnvironmentID: prod.ID, SHA: "bbbb", Images: map[string]string{"app": "other"}})
		if _, err := s.SetDeploymentStatus(ctx, d2.ID, store.DeployFailed); err != nil {
			t.Fatal(err)
		}
		e, _ := s.GetEnvironment(ctx, prod.ID)
		if e.LastDeploymentID == nil || *e.LastDeploymentID != d1.ID || e.Images["app"] != images["app"] {
			t.Errorf("production after a success and a failure = %+v; want deployment %d and its images", e, d1.ID)
		}
		ds, err := s.ListDeployments(ctx, prod.ID, 0, 0)
		if err != nil || len(ds) != 2 || ds[0].ID != d2.ID || ds[1].PipelineID == nil || *ds[1].PipelineID != pl.ID || ds[1].Images["app"] != images["app"] {
			t.Errorf("ListDeployments = %+v, %v; want both, newest first", ds, err)
		}
		_, err = s.SetDeploymentStatus(ctx, d1.ID, "done")
		wantField(t, err, "deployment.status")

		if err := s.DeleteEnvironment(ctx, prod.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDeployment(ctx, d1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deployment of a deleted environment: %v; want ErrNotFound", err)
		}
	})
}

// A stop begins with no stop job attempt; the attempt a server starts is
// recorded while the environment stops, not once it left stopping; the
// stop controller finds stopping environments of every project.
func TestEnvironmentStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		web, api := mustProject(t, s, "web").ID, mustProject(t, s, "api").ID
		pl := mustPipeline(t, s, web, "login")
		stop := mustJob(t, s, pl.ID, "stop_review")
		a, _ := s.UpsertEnvironment(ctx, store.Environment{ProjectID: web, Name: "review/a", OnStopJob: "stop_review"})
		b, _ := s.UpsertEnvironment(ctx, store.Environment{ProjectID: api, Name: "review/b"})
		s.UpsertEnvironment(ctx, store.Environment{ProjectID: api, Name: "review/c"})

		e, err := s.BeginEnvironmentStop(ctx, a.ID)
		if err != nil || e.State != store.EnvStopping || e.StopJobID != nil {
			t.Fatalf("BeginEnvironmentStop = %+v, %v; want stopping, no attempt", e, err)
		}
		if err := s.SetEnvironmentStopJob(ctx, a.ID, stop.ID); err != nil {
			t.Fatal(err)
		}
		if e, _ = s.GetEnvironment(ctx, a.ID); e.StopJobID == nil || *e.StopJobID != stop.ID {
			t.Errorf("stop job of the stopping environment = %v; want %d", e.StopJobID, stop.ID)
		}
		if _, err := s.BeginEnvironmentStop(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		es, err := s.ListEnvironmentsInState(ctx, store.EnvStopping)
		if err != nil || len(es) != 2 || es[0].ID != a.ID || es[1].ID != b.ID {
			t.Errorf("stopping environments = %+v, %v; want review/a and review/b", es, err)
		}
		// Stopping again starts over: the earlier attempt no longer counts.
		if e, err = s.BeginEnvironmentStop(ctx, a.ID); err != nil || e.StopJobID != nil {
			t.Errorf("a new stop = %+v, %v; want no attempt", e, err)
		}
		s.SetEnvironmentState(ctx, b.ID, store.EnvStopped)
		if err := s.SetEnvironmentStopJob(ctx, b.ID, stop.ID); err != nil {
			t.Fatal(err)
		}
		if e, _ = s.GetEnvironment(ctx, b.ID); e.StopJobID != nil {
			t.Errorf("a stopped environment got stop job %d", *e.StopJobID)
		}
		if _, err := s.BeginEnvironmentStop(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("stopping a missing environment: %v; want ErrNotFound", err)
		}
	})
}
