package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func weighted(ups ...proxy.Upstream) proxy.Route {
	return proxy.Route{ID: appID, Hosts: []string{appHost}, Upstreams: ups}
}

// countAnswers sends n requests and counts the bodies.
func countAnswers(t *testing.T, r *Router, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	c := &http.Client{Timeout: 10 * time.Second}
	for range n {
		code, body, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost)
		if err != nil || code != 200 {
			t.Fatalf("GET %s = %d %q, %v", appHost, code, body, err)
		}
		seen[body]++
	}
	return seen
}

// A canary at weight 10 gets about a tenth of the requests, and the
// per-version stats count exactly what the clients saw.
func TestWeightsSplitRequests(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	addrB, _ := upstream(t, "B")
	ctx := context.Background()
	if err := r.Apply(ctx, weighted(proxy.Upstream{Addr: addrA, Weight: 90, Version: "1"}, proxy.Upstream{Addr: addrB, Weight: 10, Version: "2"})); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	seen := countAnswers(t, r, n)
	// Expected 200, standard deviation about 13: 120..300 fails only
	// when the split is wrong.
	if seen["B"] < 120 || seen["B"] > 300 {
		t.Fatalf("weight 10 of 100 got %d of %d requests, want about %d: %v", seen["B"], n, n/10, seen)
	}
	st := r.Stats(appID)
	if st["1"].Requests != uint64(seen["A"]) || st["2"].Requests != uint64(seen["B"]) || st["1"].Classes[2] != uint64(seen["A"]) {
		t.Fatalf("Stats = %+v, want version 1 to count %d and version 2 %d 2xx answers", st, seen["A"], seen["B"])
	}

	if err := r.Apply(ctx, weighted(proxy.Upstream{Addr: addrA, Weight: 0, Version: "1"}, proxy.Upstream{Addr: addrB, Weight: 100, Version: "2"})); err != nil {
		t.Fatal(err)
	}
	if seen := countAnswers(t, r, 50); seen["B"] != 50 {
		t.Fatalf("with A at weight 0 the answers were %v, want B only", seen)
	}
	t.Logf("90/10 split of %d requests: %v", n, seen)
}

// Changing weights under load reloads no Caddy config, fails no request and
// closes no kept-alive connection.
func TestWeightChangesReloadNothingAndDropNoRequest(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	addrB, _ := upstream(t, "B")
	ctx := context.Background()
	split := func(a, b int) proxy.Route {
		return weighted(proxy.Upstream{Addr: addrA, Weight: a, Version: "1"}, proxy.Upstream{Addr: addrB, Weight: b, Version: "2"})
	}
	if err := r.Apply(ctx, split(100, 0)); err != nil {
		t.Fatal(err)
	}
	config := string(r.Config())

	var (
		stop     atomic.Bool
		closed   atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		total    int
	)
	kinds := clientKinds(&closed)
	for _, k := range kinds {
		for range clientsPerKind {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					code, body, err := k.do("http://" + r.Addr() + "/")
					mu.Lock()
					total++
					if err != nil || code != 200 || (body != "A" && body != "B") {
						failures = append(failures, fmt.Sprintf("%s: %d %q %v", k.name, code, body, err))
					}
					mu.Unlock()
				}
			}()
		}
	}
	steps := [][2]int{{90, 10}, {75, 25}, {50, 50}, {0, 100}, {100, 0}}
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		return total
	}
	for c := 0; c < 20 || sent() < 500; c++ {
		s := steps[c%len(steps)]
		if err := r.Apply(ctx, split(s[0], s[1])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	// The loop may end on any step: end on 100/0.
	if err := r.Apply(ctx, split(100, 0)); err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during weight changes, first: %s", len(failures), total, failures[0])
	}
	if n := closed.Load(); n > 0 {
		t.Errorf("the proxy closed %d kept-alive connections during weight changes, want none", n)
	}
	if got := string(r.Config()); got != config {
		t.Errorf("a weight change loaded a new Caddy config:\nbefore %s\nafter  %s", config, got)
	}
	if seen := countAnswers(t, r, 20); seen["A"] != 20 {
		t.Errorf("after the last change (100/0) the answers were %v, want A only", seen)
	}
}

// Errors, the proxy's own 502 for a dead upstream and latency are counted
// per version, in Stats and in the Prometheus series.
func TestStatsCountErrorsLatencyAndPrometheusSeries(t *testing.T) {
	r := start(t)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(30 * time.Millisecond)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	t.Cleanup(bad.Close)
	dead := testenv.FreeAddr(t) // nothing listens there
	good, _ := upstream(t, "A")
	ctx := context.Background()
	c := &http.Client{Timeout: 10 * time.Second}
	get := func() int {
		code, _, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	for _, step := range []struct {
		up   proxy.Upstream
		n    int
		code int
	}{
		{proxy.Upstream{Addr: good, Version: "good"}, 7, 200},
		{proxy.Upstream{Addr: strings.TrimPrefix(bad.URL, "http://"), Version: "bad"}, 5, 500},
		{proxy.Upstream{Addr: dead, Version: "dead"}, 3, 502},
	} {
		// Each version stays in the route (weight 0) so its counts stay.
		ups := []proxy.Upstream{{Addr: good, Version: "good"}, {Addr: strings.TrimPrefix(bad.URL, "http://"), Version: "bad"}, {Addr: dead, Version: "dead"}}
		for i := range ups {
			if ups[i].Version == step.up.Version {
				ups[i].Weight = 1
			}
		}
		if err := r.Apply(ctx, weighted(ups...)); err != nil {
			t.Fatal(err)
		}
		for range step.n {
			if code := get(); code != step.code {
				t.Fatalf("version %s answered %d, want %d", step.up.Version, code, step.code)
			}
		}
	}
	st := r.Stats(appID)
	if s := st["good"]; s.Requests != 7 || s.Errors() != 0 || s.SuccessRate() != 1 {
		t.Errorf("good: %+v, want 7 requests, no error", s)
	}
	if s := st["bad"]; s.Requests != 5 || s.Errors() != 5 || s.Quantile(0.99) < 30*time.Millisecond {
		t.Errorf("bad: %+v (p99 %v), want 5 errors of at least 30ms", s, s.Quantile(0.99))
	}
	if s := st["dead"]; s.Requests != 3 || s.Classes[5] != 3 {
		t.Errorf("dead: %+v, want 3 5xx (the proxy's 502)", s)
	}
	if code, _, _ := proxytest.Get(c, "http://"+r.Addr()+"/", "unrouted.review.test"); code != 404 {
		t.Errorf("unrouted host answered %d, want 404", code)
	}
	if got := len(r.Stats(appID)); got != 3 {
		t.Errorf("an unrouted request changed the route's stats: %d versions", got)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	histograms := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch f.GetName() {
			case "slipway_proxy_requests_total":
				counts[l["route"]+" "+l["version"]+" "+l["code"]] = m.GetCounter().GetValue()
			case "slipway_proxy_request_duration_seconds":
				histograms[l["route"]+" "+l["version"]] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	for key, want := range map[string]float64{appID + " good 2xx": 7, appID + " bad 5xx": 5, appID + " dead 5xx": 3} {
		if counts[key] != want {
			t.Errorf("slipway_proxy_requests_total{%s} = %v, want %v (all: %v)", key, counts[key], want, counts)
		}
	}
	if histograms[appID+" bad"] != 5 {
		t.Errorf("slipway_proxy_request_duration_seconds count for bad = %d, want 5 (all: %v)", histograms[appID+" bad"], histograms)
	}

	if err := r.Remove(ctx, appID); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats(appID); len(got) != 0 {
		t.Errorf("stats of a removed route: %v, want none", got)
	}
}

// Counting wraps the response writer: an upgraded connection (WebSocket)
// must still pass through, and counts as one 1xx response.
func TestUpgradedConnectionPassesAndIsCounted(t *testing.T) {
	r := start(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		fmt.Fprint(brw, "echo "+line)
		_ = brw.Flush()
	}))
	t.Cleanup(echo.Close)
	ctx := context.Background()
	if err := r.Apply(ctx, weighted(proxy.Upstream{Addr: strings.TrimPrefix(echo.URL, "http://"), Version: "ws"})); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", r.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", appHost)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade through the proxy = %v, %v; want 101", resp, err)
	}
	fmt.Fprint(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Fatalf("over the upgraded connection: %q, %v; want \"echo ping\\n\"", line, err)
	}
	conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for r.Stats(appID)["ws"].Classes[1] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats after the upgraded connection closed: %+v, want one 1xx", r.Stats(appID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkWeightedRequest is one kept-alive request through a weighted
// route: the pick by weight and the per-version counting included.
func BenchmarkWeightedRequest(b *testing.B) {
	r, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", StorageDir: b.TempDir(), LogLevel: "ERROR"})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "A") }))
	defer up.Close()
	addr := strings.TrimPrefix(up.URL, "http://")
	if err := r.Apply(context.Background(), weighted(proxy.Upstream{Addr: addr, Weight: 90, Version: "1"}, proxy.Upstream{Addr: addr, Weight: 10, Version: "2"})); err != nil {
		b.Fatal(err)
	}
	c := &http.Client{}
	for b.Loop() {
		if code, _, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost); err != nil || code != 200 {
			b.Fatalf("%d %v", code, err)
		}
	}
}
