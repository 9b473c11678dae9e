package proxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWeightedRouteRoundTripsThroughCaddyJSON(t *testing.T) {
	r := Route{ID: "slipway-production--app", Hosts: []string{"app.example.org"}, Upstreams: []Upstream{
		{Addr: "127.0.0.1:8001", Weight: 90, Version: "1"},
		{Addr: "127.0.0.1:8002", Weight: 10, Version: "2"},
		{Addr: "127.0.0.1:8003", Weight: 0, Version: "0"},
	}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	raw := CaddyRoute(r, CaddyOptions{})
	if n := strings.Count(string(raw), `"dial":"127.0.0.1:8001"`); n != 9 {
		t.Errorf("weight 90 of 100 is written %d times, want 9: %s", n, raw)
	}
	if strings.Contains(string(raw), "8003") {
		t.Errorf("an upstream of weight 0 is written: %s", raw)
	}
	got, err := RoutesFromCaddy([]json.RawMessage{raw})
	if err != nil {
		t.Fatal(err)
	}
	want := []Upstream{{Addr: "127.0.0.1:8001", Weight: 9}, {Addr: "127.0.0.1:8002", Weight: 1}}
	if len(got) != 1 || len(got[0].Upstreams) != 2 || got[0].Upstreams[0] != want[0] || got[0].Upstreams[1] != want[1] {
		t.Fatalf("read back %+v, want upstreams %+v", got, want)
	}

	plain := CaddyRoute(Route{ID: r.ID, Hosts: r.Hosts, Upstreams: []Upstream{{Addr: "127.0.0.1:8001"}, {Addr: "127.0.0.1:8002"}}}, CaddyOptions{})
	if strings.Contains(string(plain), "load_balancing") {
		t.Errorf("an unweighted route gets a load balancing policy: %s", plain)
	}
}

func TestBadWeightsAndVersionsAreRefusedByField(t *testing.T) {
	base := Route{ID: "slipway-production--app", Hosts: []string{"app.example.org"}}
	for _, tc := range []struct {
		up   Upstream
		want string
	}{
		{Upstream{Addr: "127.0.0.1:1", Weight: -1}, "upstreams[0].weight -1"},
		{Upstream{Addr: "127.0.0.1:1", Weight: MaxWeight + 1}, "upstreams[0].weight 1001"},
		{Upstream{Addr: "127.0.0.1:1", Version: "a b"}, `upstreams[0].version "a b"`},
	} {
		r := base
		r.Upstreams = []Upstream{tc.up}
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.up, err, tc.want)
		}
	}
}

func TestStatsRatesQuantilesAndIntervals(t *testing.T) {
	var s Stats
	for range 98 {
		s.Observe(200, 3*time.Millisecond)
	}
	s.Observe(503, 40*time.Millisecond)
	s.Observe(502, 20*time.Second)
	if s.Requests != 100 || s.Errors() != 2 || s.SuccessRate() != 0.98 {
		t.Fatalf("requests %d, errors %d, success %v; want 100, 2, 0.98", s.Requests, s.Errors(), s.SuccessRate())
	}
	if q := s.Quantile(0.5); q != 5*time.Millisecond {
		t.Errorf("p50 = %v, want the 5ms bucket", q)
	}
	if q := s.Quantile(0.99); q != 50*time.Millisecond {
		t.Errorf("p99 = %v, want the 50ms bucket", q)
	}
	if q := s.Quantile(1); q < time.Hour {
		t.Errorf("p100 = %v, want +Inf for a response above every bucket", q)
	}
	before := s
	before.Latency = append([]uint64(nil), s.Latency...)
	for range 10 {
		s.Observe(500, time.Millisecond)
	}
	d := s.Sub(before)
	if d.Requests != 10 || d.Errors() != 10 || d.SuccessRate() != 0 {
		t.Errorf("interval: %d requests, %d errors, success %v; want 10, 10, 0", d.Requests, d.Errors(), d.SuccessRate())
	}
	if (Stats{}).SuccessRate() != 1 || (Stats{}).Quantile(0.99) != 0 {
		t.Error("no traffic must read as success rate 1 and latency 0")
	}
}
