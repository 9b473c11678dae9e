package env

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestHostKeys: an environment is keyed on the Docker host by its
// installation, project and slug; one deployed last by a Slipway without
// installation ids (before the installation got its id) still has its
// old key looked after, one deployed since has not.
func TestHostKeys(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.CreateProject(ctx, store.Project{Name: "shop", RepoURL: "file:///srv/shop.git"})
	if err != nil {
		t.Fatal(err)
	}
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
