package store_test

import (
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestInstallationIDIsOneForEveryServer: servers that share a database,
// even started at once, get one installation id, and keep it.
func TestInstallationIDIsOneForEveryServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		a, b := open(t, url), open(t, url)
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				in, err := s.Installation(ctx)
				if err != nil {
					t.Error(err)
				}
				ids[i] = in.ID
			}()
		}
		wg.Wait()
		if !regexp.MustCompile(`^[a-z0-9]{6}$`).MatchString(ids[0]) {
			t.Fatalf("installation id %q, want 6 of a-z0-9", ids[0])
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("installation ids differ: %v", ids)
			}
		}
		again, err := open(t, url).Installation(ctx)
		if err != nil || again.ID != ids[0] || again.CreatedAt.IsZero() {
			t.Errorf("after reopening: %+v %v, want id %q and its creation time", again, err, ids[0])
		}
		other, err := open(t, storetest.SQLiteURL(t)).Installation(ctx)
		if err != nil || other.ID == ids[0] {
			t.Errorf("another database's installation id: %q %v, want one of its own", other.ID, err)
		}
	})
}
