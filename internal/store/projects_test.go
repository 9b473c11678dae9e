package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestProjectNamesUniqueWhateverTheCase: "Shop" next to "shop" is refused,
// created or renamed: both would have the registry namespace "shop", and
// one's job token would push into the other's repositories.
func TestProjectNamesUniqueWhateverTheCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		mustProject(t, s, "shop")
		if _, err := s.CreateProject(ctx, store.Project{Name: "Shop", RepoURL: "file:///srv/other.git"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("creating Shop next to shop: %v, want a conflict", err)
		}
		other := mustProject(t, s, "web")
		other.Name = "SHOP"
		if _, err := s.UpdateProject(ctx, other); !errors.Is(err, store.ErrConflict) {
			t.Errorf("renaming web to SHOP next to shop: %v, want a conflict", err)
		}
	})
}

// TestProjectNameTwinsStopTheUpgrade: a database where an earlier Slipway
// let "Shop" and "shop" in refuses to open, naming both projects.
func TestProjectNameTwinsStopTheUpgrade(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		s, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Back to the schema before the unique index, with the twins in.
		for _, q := range []string{"DROP INDEX projects_name_nocase", "DELETE FROM schema_migrations WHERE version >= 9"} {
			if err := s.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		mustProject(t, s, "shop")
		mustProject(t, s, "Shop")
		s.Close()
		_, err = store.Open(ctx, url)
		if err == nil || !strings.Contains(err.Error(), `"shop" (id 1) and "Shop" (id 2)`) || !strings.Contains(err.Error(), "differ only in case") {
			t.Fatalf("opening a database with Shop and shop: %v, want an error naming both", err)
		}
	})
}
