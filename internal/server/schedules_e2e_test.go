package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

type schedule struct {
	ID             int64             `json:"id"`
	Description    string            `json:"description"`
	Cron           string            `json:"cron"`
	Ref            string            `json:"ref"`
	Variables      map[string]string `json:"variables"`
	Active         bool              `json:"active"`
	LastPipelineID *int64            `json:"last_pipeline_id"`
}

// TestUnknownRefIsABadRequest: running a branch the repository does not
// have is the caller's mistake (400, naming the ref), not the server's.
func TestUnknownRefIsABadRequest(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	var body struct{ Error string }
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "no-such-branch"}, &body); code != http.StatusBadRequest || !strings.Contains(body.Error, "no-such-branch") {
		t.Fatalf("run on an unknown ref: %d %q, want 400 naming the ref", code, body.Error)
	}
	out, err := s.cli("pipeline", "run", "shop", "--ref", "no-such-branch").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "400 Bad Request") {
		t.Errorf("slipway pipeline run --ref no-such-branch: %v\n%s", err, out)
	}
}

// TestSchedulesThroughAPIAndCLI updates, pauses, resumes, runs and deletes
// a schedule through the API (GitLab's shapes: PUT, POST .../play, DELETE)
// and the CLI.
func TestSchedulesThroughAPIAndCLI(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: ['echo \"suite=$SUITE source=$CI_PIPELINE_SOURCE\"']\n"})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	cli := func(args ...string) string {
		t.Helper()
		out, err := s.cli(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("slipway %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	var sc schedule
	if code := s.do("POST", "/api/projects/shop/schedules", map[string]any{"description": "nightly", "cron": "0 2 * * *",
		"variables": map[string]string{"SUITE": "full"}, "active": true}, &sc); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	path := fmt.Sprintf("/api/projects/shop/schedules/%d", sc.ID)
	// A partial PUT changes what it gives and keeps the rest.
	var got schedule
	if code := s.do("PUT", path, map[string]any{"cron": "@hourly"}, &got); code != http.StatusOK || got.Cron != "@hourly" ||
		got.Description != "nightly" || got.Variables["SUITE"] != "full" || !got.Active {
		t.Fatalf("PUT cron: %d %+v", code, got)
	}
	if code := s.do("PUT", path, map[string]any{"cron": "61 * * * *"}, nil); code != http.StatusBadRequest {
		t.Errorf("PUT a bad cron: %d, want 400", code)
	}
	if code := s.do("PUT", path, map[string]any{"active": false}, &got); code != http.StatusOK || got.Active {
		t.Fatalf("pause: %d %+v", code, got)
	}
	if code := s.do("PUT", "/api/projects/shop/schedules/999999", map[string]any{"active": true}, nil); code != http.StatusNotFound {
		t.Errorf("PUT an unknown schedule: %d, want 404", code)
	}

	var p pipeline
	if code := s.do("POST", path+"/play", nil, &p); code != http.StatusCreated || p.Source != "schedule" {
		t.Fatalf("play: %d %+v", code, p)
	}
	p = s.waitPipeline(p.ID, finished)
	if !strings.Contains(s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("build").ID)), "suite=full source=schedule") {
		t.Errorf("the played pipeline did not get the schedule's variables")
	}
	if s.do("GET", path, nil, &got); got.LastPipelineID == nil || *got.LastPipelineID != p.ID || got.Active {
		t.Errorf("after play: %+v, want last pipeline %d and still paused", got, p.ID)
	}

	id := fmt.Sprint(sc.ID)
	if out := cli("schedule", "resume", "shop", id); !strings.Contains(out, "resumed") || !strings.Contains(out, "active") {
		t.Errorf("schedule resume: %s", out)
	}
	cli("schedule", "update", "shop", id, "--description", "weekly", "--cron", "@weekly", "--variable", "SUITE=smoke")
	if s.do("GET", path, nil, &got); got.Description != "weekly" || got.Cron != "@weekly" || got.Variables["SUITE"] != "smoke" || !got.Active {
		t.Errorf("after schedule update: %+v", got)
	}
	cli("schedule", "pause", "shop", id)
	if out := cli("schedule", "list", "shop"); !strings.Contains(out, "weekly") || !strings.Contains(out, "false") || !strings.Contains(out, "SUITE") {
		t.Errorf("schedule list after pause:\n%s", out)
	}
	out := cli("schedule", "run", "shop", id)
	var second int64
	if _, err := fmt.Sscanf(out, "pipeline %d", &second); err != nil || second == p.ID {
		t.Fatalf("schedule run: %q", out)
	}
	s.waitPipeline(second, finished)
	cli("schedule", "delete", "shop", id)
	if code := s.do("GET", path, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET after delete: %d, want 404", code)
	}
	cli("schedule", "create", "shop", "--cron", "@daily", "--description", "daily", "--paused")
	var all []schedule
	s.do("GET", "/api/projects/shop/schedules", nil, &all)
	if len(all) != 1 || all[0].Description != "daily" || all[0].Active || all[0].Ref != "main" {
		t.Errorf("after schedule create --paused: %+v", all)
	}
}
