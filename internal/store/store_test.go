package store_test

import (
	"context"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// open opens a fresh store at url and closes it when t ends.
func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		v1, err := s.SchemaVersion(ctx)
		if err != nil || v1 < 1 {
			t.Fatalf("SchemaVersion after first Open = %d, %v; want >= 1", v1, err)
		}
		p, err := s.CreateProject(ctx, store.Project{Name: "web", RepoURL: "file:///srv/web.git"})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2 := open(t, url) // migrations run again: nothing to do, nothing lost
		v2, err := s2.SchemaVersion(ctx)
		if err != nil || v2 != v1 {
			t.Fatalf("SchemaVersion after second Open = %d, %v; want %d", v2, err, v1)
		}
		if got, err := s2.GetProject(ctx, p.ID); err != nil || got.Name != "web" {
			t.Fatalf("project after second Open = %+v, %v", got, err)
		}
	})
}
