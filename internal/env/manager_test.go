package env

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// shopStore opens the store at url with one project, shop.
func shopStore(t *testing.T, url string) (*store.Store, store.Project) {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProject(context.Background(), store.Project{Name: "shop", RepoURL: "file:///srv/shop.git"})
	if err != nil {
		t.Fatal(err)
	}
	return st, p
}

// TestHostKeys: an environment is keyed on the Docker host by its
// installation, project and slug; one deployed last by a Slipway without
// installation ids (before the installation got its id) still has its
// old key looked after, one deployed since has not.
func TestHostKeys(t *testing.T) {
	ctx := context.Background()
	st, p := shopStore(t, storetest.SQLiteURL(t))
	e, err := st.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "review/x", Slug: "review-x"})
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Store: st, Installation: "abc123"}
	if got, want := m.HostKey(p.ID, e.Slug), "abc123-p1-review-x"; got != want {
		t.Errorf("HostKey: %q, want %q", got, want)
	}
	if got := m.legacyKey(ctx, e); got != "" {
		t.Errorf("never deployed: old key %q, want none", got)
	}
	d, err := st.CreateDeployment(ctx, store.Deployment{EnvironmentID: e.ID, Ref: "x", SHA: "0123456789abcdef0123456789abcdef01234567", Status: store.DeployRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetDeploymentStatus(ctx, d.ID, store.DeploySuccess); err != nil {
		t.Fatal(err)
	}
	if e, err = st.GetEnvironment(ctx, e.ID); err != nil || e.LastDeploymentID == nil {
		t.Fatalf("environment %+v %v: want its last deployment", e, err)
	}
	m.InstalledAt = d.CreatedAt.Add(time.Second) // deployed before the installation had an id
	if got, want := m.legacyKey(ctx, e), "p1-review-x"; got != want {
		t.Errorf("deployed before the installation id: old key %q, want %q", got, want)
	}
	m.InstalledAt = d.CreatedAt.Add(-time.Second) // deployed since
	if got := m.legacyKey(ctx, e); got != "" {
		t.Errorf("deployed since the installation id: old key %q, want none", got)
	}
	if got, want := (&Manager{}).HostKey(p.ID, e.Slug), "p1-review-x"; got != want {
		t.Errorf("HostKey without an installation: %q, want %q", got, want)
	}
}

// TestJobFinishedFailsOnlyItsOwnStop: review environments share their stop
// job's name. A stop job attempt that fails leaves stop_failed only the
// environment whose stop it carries out; another environment stopping (its
// stop waiting for its deploy pipeline, or carried out by another attempt)
// stays stopping for the controller to move on.
func TestJobFinishedFailsOnlyItsOwnStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st, p := shopStore(t, url)
		m := &Manager{Store: st}
		stopping := map[string]store.Environment{}
		stopJob := map[string]store.Job{}
		for _, name := range []string{"review/a", "review/b", "review/c"} {
			pl, err := st.CreatePipeline(ctx, store.Pipeline{ProjectID: p.ID, Source: "push", Ref: name, SHA: "0123456789abcdef0123456789abcdef01234567"})
			if err != nil {
				t.Fatal(err)
			}
			j, err := st.CreateJob(ctx, store.Job{PipelineID: pl.ID, Name: "stop_review", Stage: "review", When: "manual", Status: store.Manual})
			if err != nil {
				t.Fatal(err)
			}
			e, err := st.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: name, OnStopJob: "stop_review"})
			if err != nil {
				t.Fatal(err)
			}
			if e, err = st.BeginEnvironmentStop(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			stopping[name], stopJob[name] = e, j
		}
		// review/a's stop runs its stop job; review/b's waits for its
		// deploy pipeline; review/c's runs its own attempt.
		for _, name := range []string{"review/a", "review/c"} {
			if err := st.SetEnvironmentStopJob(ctx, stopping[name].ID, stopJob[name].ID); err != nil {
				t.Fatal(err)
			}
		}
		failed := stopJob["review/a"]
		failed.Status = store.Failed
		m.JobFinished(failed)
		want := map[string]string{"review/a": store.EnvStopFailed, "review/b": store.EnvStopping, "review/c": store.EnvStopping}
		for name, e := range stopping {
			got, err := st.GetEnvironment(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != want[name] {
				t.Errorf("after review/a's stop job failed, %s is %s; want %s", name, got.State, want[name])
			}
		}
	})
}
