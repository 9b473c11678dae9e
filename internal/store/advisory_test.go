package store_test

import (
	"context"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestRegistryCleanupOnceAtATime: two servers on one PostgreSQL database
// never run the registry cleanup at once: the second is told another
// runs it, and runs it once the first is done.
func TestRegistryCleanupOnceAtATime(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	var second bool
	ran, err := a.TryExclusive(ctx, store.LockRegistryCleanup, func() {
		during, err := b.TryExclusive(ctx, store.LockRegistryCleanup, func() { t.Error("the second server cleaned up while the first did") })
		if err != nil || during {
			t.Errorf("second server during the first's cleanup: ran %v, %v", during, err)
		}
	})
	if err != nil || !ran {
		t.Fatalf("first server: ran %v, %v", ran, err)
	}
	if ran, err := b.TryExclusive(ctx, store.LockRegistryCleanup, func() { second = true }); err != nil || !ran || !second {
		t.Errorf("second server after the first: ran %v, %v", ran, err)
	}
}
