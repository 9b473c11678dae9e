package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestUISessions: a session is found by its id hash with the times it was
// stored with, moves its last-seen time on use, is gone after deletion, and
// the cleanup removes exactly the sessions past their end or idle too long.
func TestUISessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		now := time.Now().UTC().Truncate(time.Microsecond)
		day := 24 * time.Hour
		session := func(hash string, created, lastSeen time.Time) store.UISession {
			return store.UISession{IDHash: hash, TokenMAC: "mac-" + hash, CreatedAt: created,
				ExpiresAt: created.Add(30 * day), LastSeenAt: lastSeen}
		}
		fresh := session("fresh", now.Add(-time.Hour), now.Add(-time.Minute))
		idle := session("idle", now.Add(-10*day), now.Add(-8*day))
		old := session("old", now.Add(-31*day), now.Add(-time.Minute))
		for _, u := range []store.UISession{fresh, idle, old} {
			if err := s.CreateUISession(ctx, u); err != nil {
				t.Fatalf("create %s: %v", u.IDHash, err)
			}
		}
		if err := s.CreateUISession(ctx, fresh); !errors.Is(err, store.ErrConflict) {
			t.Errorf("the same id hash again: %v, want ErrConflict", err)
		}

		got, err := s.UISession(ctx, "fresh")
		if err != nil || got != fresh {
			t.Fatalf("lookup: %+v %v, want %+v", got, err, fresh)
		}
		if _, err := s.UISession(ctx, "never-made"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup of an unknown hash: %v, want ErrNotFound", err)
		}

		seen := now.Add(time.Second)
		if err := s.TouchUISession(ctx, "fresh", seen); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UISession(ctx, "fresh"); !got.LastSeenAt.Equal(seen) || !got.CreatedAt.Equal(fresh.CreatedAt) {
			t.Errorf("after touch: last seen %s created %s, want %s and %s", got.LastSeenAt, got.CreatedAt, seen, fresh.CreatedAt)
		}

		n, err := s.DeleteExpiredUISessions(ctx, now, now.Add(-7*day))
		if err != nil || n != 2 {
			t.Fatalf("cleanup removed %d (%v), want the idle and the old one", n, err)
		}
		for _, hash := range []string{"idle", "old"} {
			if _, err := s.UISession(ctx, hash); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s session after cleanup: %v, want ErrNotFound", hash, err)
			}
		}
		if _, err := s.UISession(ctx, "fresh"); err != nil {
			t.Errorf("cleanup removed a live session: %v", err)
		}
		if n, err := s.DeleteExpiredUISessions(ctx, now, now.Add(-7*day)); err != nil || n != 0 {
			t.Errorf("cleanup again removed %d (%v), want 0", n, err)
		}

		if err := s.DeleteUISession(ctx, "fresh"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UISession(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v, want ErrNotFound", err)
		}
		if err := s.DeleteUISession(ctx, "fresh"); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
	})
}
