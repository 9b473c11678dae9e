package embedded

import (
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

	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// upstream is a tiny backend that answers its name and records the Host
// header it was sent.
func upstream(t *testing.T, name string) (addr string, lastHost *atomic.Value) {
	t.Helper()
	lastHost = &atomic.Value{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastHost.Store(r.Host)
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), lastHost
}

func start(t *testing.T) *Router {
	t.Helper()
	r, err := Start(context.Background(), Config{Listen: testenv.FreeAddr(t), StorageDir: t.TempDir(), LogLevel: "ERROR"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

const (
	appID   = "slipway-review-feature-x--app"
	appHost = "review-feature-x.review.test"
)

func TestRouteAnswersThroughProxyWithHostHeader(t *testing.T) {
	r := start(t)
	addrA, hostA := upstream(t, "A")
	ctx := context.Background()

	if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
		t.Fatal(err)
	}
	code, body, err := proxytest.Get(http.DefaultClient, "http://"+r.Addr()+"/", appHost)
	if err != nil || code != 200 || body != "A" {
		t.Fatalf("GET %s through proxy = %d %q, %v; want 200 \"A\"", appHost, code, body, err)
	}
	if got := hostA.Load(); got != appHost {
		t.Errorf("upstream saw Host %q, want %q", got, appHost)
	}
	code, body, _ = proxytest.Get(http.DefaultClient, "http://"+r.Addr()+"/", "other.review.test")
	if code != 404 || body == "A" {
		t.Errorf("GET of an unrouted host = %d %q, want Slipway's 404", code, body)
	}
}

func TestApplyTwiceLeavesOneRoute(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	ctx := context.Background()
	for range 2 {
		if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
			t.Fatal(err)
		}
	}
	routes, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].ID != appID || routes[0].Upstreams[0].Addr != addrA {
		t.Fatalf("routes after two Applies = %+v, want one %s to %s", routes, appID, addrA)
	}
	if n := strings.Count(string(r.Config()), `"@id":"`+appID+`"`); n != 1 {
		t.Fatalf("Caddy config holds @id %s %d times, want 1:\n%s", appID, n, r.Config())
	}
}

func TestSwitchUpstreamDropsNoRequest(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	addrB, _ := upstream(t, "B")
	ctx := context.Background()
	if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
		t.Fatal(err)
	}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		seen     = map[string]int{}
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for !stop.Load() {
				code, body, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost)
				mu.Lock()
				if err != nil || code != 200 || (body != "A" && body != "B") {
					failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
				} else {
					seen[body]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 10 {
		time.Sleep(50 * time.Millisecond)
		next := addrB
		if i%2 == 1 {
			next = addrA
		}
		if err := r.Apply(ctx, proxytest.Route(appID, appHost, next)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during 10 upstream switches, first: %s",
			len(failures), len(failures)+seen["A"]+seen["B"], failures[0])
	}
	if seen["A"] == 0 || seen["B"] == 0 {
		t.Fatalf("answers seen = %v, want both upstreams", seen)
	}
	// The last switch went to A: B must no longer be asked.
	for range 5 {
		if _, body, _ := proxytest.Get(http.DefaultClient, "http://"+r.Addr()+"/", appHost); body != "A" {
			t.Fatalf("after switching back to A the proxy answered %q", body)
		}
	}
	t.Logf("requests during switches: %v", seen)
}

func TestRemovedRouteIsNotServed(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	ctx := context.Background()
	if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := r.Remove(ctx, appID); err != nil {
			t.Fatal(err)
		}
	}
	code, body, err := proxytest.Get(http.DefaultClient, "http://"+r.Addr()+"/", appHost)
	if err != nil || code != 404 || body == "A" {
		t.Fatalf("GET after Remove = %d %q, %v; want 404 not from the upstream", code, body, err)
	}
	if routes, _ := r.List(ctx); len(routes) != 0 {
		t.Fatalf("routes after Remove = %+v, want none", routes)
	}
}

func TestHostOfAnotherRouteIsRefused(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	ctx := context.Background()
	if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
		t.Fatal(err)
	}
	err := r.Apply(ctx, proxytest.Route("slipway-review-other--app", appHost, addrA))
	if err == nil || !strings.Contains(err.Error(), "already routed by "+appID) {
		t.Fatalf("Apply of a second route for %s: err = %v, want already routed", appHost, err)
	}
}

func TestOneEmbeddedProxyPerProcess(t *testing.T) {
	start(t)
	if _, err := Start(context.Background(), Config{Listen: testenv.FreeAddr(t)}); err == nil {
		t.Fatal("second Start succeeded, want an error: Caddy is a process singleton")
	}
}

// A kept-alive connection stays open across a route change and its next
// request already gets the new config.
func TestKeptAliveConnectionSeesRemovalAtOnce(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	ctx := context.Background()
	if err := r.Apply(ctx, proxytest.Route(appID, appHost, addrA)); err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int64
	var d net.Dialer
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}}
	if code, body, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost); err != nil || code != 200 || body != "A" {
		t.Fatalf("GET before Remove = %d %q, %v; want 200 \"A\"", code, body, err)
	}
	if err := r.Remove(ctx, appID); err != nil {
		t.Fatal(err)
	}
	if code, body, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost); err != nil || code != 404 || body == "A" {
		t.Fatalf("GET after Remove on the kept-alive connection = %d %q, %v; want 404", code, body, err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("client opened %d connections, want 1: the route change closed the kept-alive one", n)
	}
}

// A request in flight while routes change finishes, answered by its
// upstream; once its version has left the route it is not counted, or that
// version's counts would come back for good.
func TestRequestInFlightFinishesAcrossRouteChanges(t *testing.T) {
	r := start(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		close(arrived) // one request only
		<-release
		fmt.Fprint(w, "A, slowly")
	}))
	t.Cleanup(slow.Close)
	addrB, _ := upstream(t, "B")
	ctx := context.Background()
	slowRoute := proxytest.Route(appID, appHost, strings.TrimPrefix(slow.URL, "http://"))
	slowRoute.Upstreams[0].Version = "1"
	if err := r.Apply(ctx, slowRoute); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := proxytest.Get(http.DefaultClient, "http://"+r.Addr()+"/", appHost)
		done <- result{code, body, err}
	}()
	<-arrived
	for range 5 {
		if err := r.Apply(ctx, proxytest.Route("slipway-review-b--app", "review-b.review.test", addrB)); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove(ctx, "slipway-review-b--app"); err != nil {
			t.Fatal(err)
		}
	}
	next := proxytest.Route(appID, appHost, addrB)
	next.Upstreams[0].Version = "2"
	if err := r.Apply(ctx, next); err != nil {
		t.Fatal(err)
	}
	close(release)
	if res := <-done; res.err != nil || res.code != 200 || res.body != "A, slowly" {
		t.Fatalf("request in flight during route changes = %d %q, %v; want 200 \"A, slowly\"", res.code, res.body, res.err)
	}
	// The proxy counts a short response before it sends it (buffered
	// until the handler returns), so the count would be in by now.
	if st := r.Stats(appID); len(st) != 0 {
		t.Fatalf("Stats = %+v, want nothing of version 1, which left the route", st)
	}
}
