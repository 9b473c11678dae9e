package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/store"
)

func TestServerExpiresArtifacts(t *testing.T) {
	s := uiServer(t, "", func(c *Config) { c.ExpiryTick = 100 * time.Millisecond })
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [build, deploy]
build:
  stage: build
  script: [echo v1 > app]
  artifacts:
    paths: [app]
    expire_in: 1 second
deploy:
  stage: deploy
  script: [cat app]
  when: manual
`})
	p := uiProject(t, s, "expiry", repo)
	pipe := uiWait(t, s, uiRun(t, s, p, "main", nil).ID)
	jobs := uiJobs(t, s, pipe.ID)
	if jobs["build"].Status != store.Success || jobs["deploy"].Status != store.Manual {
		t.Fatalf("jobs = %+v", jobs)
	}
	found, _ := filepath.Glob(filepath.Join(s.Pipes.WorkDir, "pipelines", fmt.Sprint(pipe.ID), "artifacts", "*-build"))
	if len(found) != 1 {
		t.Fatalf("artifacts of build: %v", found)
	}
	artifacts := found[0]

	// The loop removes them once expire_in has passed.
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(artifacts); err == nil && time.Now().Before(deadline); _, err = os.Stat(artifacts) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(artifacts); !os.IsNotExist(err) {
		t.Fatalf("artifacts still in %s after expire_in: %v", artifacts, err)
	}

	// Playing deploy now fails: what it needs is gone.
	if err := s.Pipes.Play(context.Background(), jobs["deploy"].ID); err != nil {
		t.Fatal(err)
	}
	uiWait(t, s, pipe.ID)
	if d := uiJobs(t, s, pipe.ID)["deploy"]; d.Status != store.Failed || d.FailureReason != engine.MissingDependencyFailure {
		t.Errorf("deploy = %s (%s), want failed with %s", d.Status, d.FailureReason, engine.MissingDependencyFailure)
	}
}
