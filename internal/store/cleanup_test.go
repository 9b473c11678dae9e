package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestCleanupRulesOutliveTheStore: a rule's last and next run, saved by
// one server, are read back after the store is opened again, apart from
// another server's.
func TestCleanupRulesOutliveTheStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		next := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
		if err := s.SaveCleanupRule(ctx, store.CleanupRule{Server: "ci-1", Repositories: "team/**", Cadence: 7 * 24 * time.Hour, NextRunAt: next}); err != nil {
			t.Fatal(err)
		}
		ran := time.Now().UTC().Truncate(time.Second)
		saved := store.CleanupRule{Server: "ci-1", Repositories: "team/**", Cadence: 24 * time.Hour, LastRunAt: &ran, NextRunAt: ran.Add(24 * time.Hour), LastDeleted: 3}
		if err := s.SaveCleanupRule(ctx, saved); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCleanupRule(ctx, store.CleanupRule{Server: "ci-2", Repositories: "team/**", NextRunAt: next}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		got, err := open(t, url).CleanupRules(ctx, "ci-1")
		if err != nil || len(got) != 1 {
			t.Fatalf("CleanupRules = %+v, %v; want one rule", got, err)
		}
		g := got[0]
		if g.Cadence != saved.Cadence || g.LastRunAt == nil || !g.LastRunAt.Equal(ran) || !g.NextRunAt.Equal(saved.NextRunAt) || g.LastDeleted != 3 {
			t.Errorf("read back %+v (last run %v); want %+v (last run %v)", g, g.LastRunAt, saved, ran)
		}
	})
}
