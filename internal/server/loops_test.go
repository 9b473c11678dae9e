package server

import (
	"context"
	"testing"
	"time"
)

// TestHeartbeatGoesOnWhileShuttingDown: Close stops the liveness loop
// before it waits for the pipelines; a heartbeat of its own keeps the
// server's row fresh meanwhile, so other servers do not take it for dead.
func TestHeartbeatGoesOnWhileShuttingDown(t *testing.T) {
	s := uiServer(t, "", func(c *Config) {
		c.HeartbeatInterval = 20 * time.Millisecond
		c.HeartbeatGrace = time.Minute
	})
	ctx := context.Background()
	s.stop() // the loops end, as in Close
	s.loops.Wait()
	seen := func() time.Time {
		t.Helper()
		all, err := s.Store.ListServers(ctx)
		if err != nil || len(all) != 1 {
			t.Fatalf("servers: %+v %v", all, err)
		}
		return all[0].SeenAt
	}
	before := seen()
	beat, stopBeating := context.WithCancel(ctx)
	s.every(beat, s.cfg.HeartbeatInterval, false, func(ctx context.Context) { s.heartbeat(ctx) })
	ended := make(chan struct{})
	go func() { s.loops.Wait(); close(ended) }()
	deadline := time.Now().Add(10 * time.Second)
	for !seen().After(before) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !seen().After(before) {
		t.Fatalf("no heartbeat after the loops stopped: seen at %s", before)
	}
	stopBeating()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the heartbeat did not end once asked")
	}
}
