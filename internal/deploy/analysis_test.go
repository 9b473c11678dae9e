package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
)

func statsOf(ok, errors int, took time.Duration) proxy.Stats {
	var s proxy.Stats
	for range ok {
		s.Observe(200, took)
	}
	for range errors {
		s.Observe(503, took)
	}
	return s
}

func TestAnalysisChecksRequestsSuccessRateAndLatency(t *testing.T) {
	a := Analysis{SuccessRate: 0.95, MaxP99: 100 * time.Millisecond, MinRequests: 20}
	for _, tc := range []struct {
		name   string
		stats  proxy.Stats
		reason string // "" when the check passes
	}{
		{"healthy", statsOf(100, 2, 3*time.Millisecond), ""},
		{"too few requests", statsOf(10, 0, time.Millisecond), "10 requests, want at least 20"},
		{"errors", statsOf(90, 10, time.Millisecond), "success rate 90.00% (10 errors of 100), want at least 95.00%"},
		{"slow", statsOf(100, 0, 300*time.Millisecond), "p99 latency up to 500ms, want at most 100ms"},
		{"slower than every bucket", statsOf(100, 0, time.Minute), "p99 latency above 10s, want at most 100ms"},
	} {
		c := a.Check(25, tc.stats)
		if c.Passed != (tc.reason == "") || !strings.Contains(c.Reason, tc.reason) || c.Weight != 25 {
			t.Errorf("%s: %+v, want reason %q", tc.name, c, tc.reason)
		}
	}
	// The defaults: 99%, 10 requests, no latency bound.
	if c := (Analysis{}).Check(10, statsOf(99, 1, 20*time.Second)); !c.Passed {
		t.Errorf("defaults: %+v, want passed (99%% success, latency unbounded)", c)
	}
	if c := (Analysis{}).Check(10, statsOf(98, 2, time.Millisecond)); c.Passed {
		t.Errorf("defaults: %+v, want failed at 98%% success", c)
	}
}

// Requests that failed with no complete answer (the client timed out) are
// errors of the canary, across snapshots too.
func TestAnalysisCountsFailedRequestsAsErrors(t *testing.T) {
	before := statsOf(10, 0, time.Millisecond)
	now := before
	for range 20 {
		now.ObserveFailed(2 * time.Second)
	}
	now.Observe(200, time.Millisecond)
	c := (Analysis{}).Check(50, now.Sub(before))
	if c.Passed || c.Requests != 21 || !strings.Contains(c.Reason, "20 errors of 21") {
		t.Fatalf("check of 20 timed-out requests and 1 answer: %+v, want failed with 20 errors", c)
	}
}
