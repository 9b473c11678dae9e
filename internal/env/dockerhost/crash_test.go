package dockerhost_test

import (
	"context"
	"strings"
	"testing"
)

// A container that exits at once is restarted by its restart policy: the
// health wait must still see the crash and say so, not wait out its
// deadline and blame the health check.
func TestStartGenerationReportsACrashingContainer(t *testing.T) {
	f := newFixture(t)
	spec := f.spec(t, "crash-at-start", nil)
	for i := range spec.Services {
		spec.Services[i].Command = []string{"sh", "-c", "exit 3"}
	}
	_, err := f.d.StartGeneration(context.Background(), spec)
	// Caught while it restarts, or after: its exit code, or its restarts.
	if err == nil || !strings.Contains(err.Error(), "exit code 3") && !strings.Contains(err.Error(), "crashed and was restarted") {
		t.Fatalf("StartGeneration of a crashing service: %v; want the crash and its exit code", err)
	}
	gens, err := f.d.Generations(context.Background(), spec.Env)
	if err != nil || len(gens) != 0 {
		t.Fatalf("generations after the failed start: %+v, %v; want none", gens, err)
	}
}
