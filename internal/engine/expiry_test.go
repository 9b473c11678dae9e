package engine

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

func TestArtifactsExpireIn(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"build", "test"},
		newJob("build", "build", "echo v1 > app").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"app"}, ExpireIn: "1 hour"}
		}),
		newJob("keep", "build", "echo log > keep.log").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"keep.log"}, ExpireIn: "never"}
		}),
		newJob("test", "test", "cat app"),
	)
	before := time.Now()
	first := r.run(context.Background(), p)
	want(t, first, map[string]Status{"build": Success, "keep": Success, "test": Success})
	build, keep := first.Job("build"), first.Job("keep")
	if at := build.ArtifactsExpireAt; at.Before(before.Add(time.Hour)) || at.After(time.Now().Add(time.Hour)) {
		t.Errorf("build's artifacts expire at %s, want an hour after the job", at)
	}
	if !keep.ArtifactsExpireAt.IsZero() {
		t.Errorf("expire_in: never gave an expiry: %s", keep.ArtifactsExpireAt)
	}

	// Not yet: nothing goes.
	if removed, err := ExpireArtifacts(r.workDir, time.Now()); err != nil || len(removed) != 0 {
		t.Fatalf("ExpireArtifacts now = %v, %v; want nothing", removed, err)
	}
	removed, err := ExpireArtifacts(r.workDir, time.Now().Add(61*time.Minute))
	if err != nil || !slices.Equal(removed, []string{build.ArtifactsDir}) {
		t.Fatalf("ExpireArtifacts in 61m = %v, %v; want only %s", removed, err, build.ArtifactsDir)
	}
	if _, err := os.Stat(build.ArtifactsDir); !os.IsNotExist(err) {
		t.Errorf("expired artifacts still there: %v", err)
	}
	if _, err := os.Stat(keep.ArtifactsDir); err != nil {
		t.Errorf("artifacts without expiry were removed: %v", err)
	}

	// Retrying test now: its dependency's artifacts are gone.
	r.opts.Prior = priorOf(first, "test")
	r.opts.PipelineID = first.PipelineID
	second := r.run(context.Background(), p)
	want(t, second, map[string]Status{"build": Success, "test": Failed})
	if j := second.Job("test"); j.FailureReason != MissingDependencyFailure || j.Attempts != 1 {
		t.Errorf("test: reason %q after %d attempts, want %s", j.FailureReason, j.Attempts, MissingDependencyFailure)
	}
}

func TestExpiredArtifactsAreNotRestoredBeforeTheSweep(t *testing.T) {
	dir := t.TempDir()
	if artifactsGone(dir, time.Now()) {
		t.Fatal("artifacts without expiry reported gone")
	}
	if err := markExpiry(dir, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if !artifactsGone(dir, time.Now()) {
		t.Error("expired artifacts still restorable")
	}
	if artifactsGone(dir, time.Now().Add(-time.Minute)) {
		t.Error("artifacts reported gone before their expiry")
	}
}
