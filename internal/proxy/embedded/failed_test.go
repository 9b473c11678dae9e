package embedded

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
)

// A client that gives up on a slow version saw a failure: the canary's
// counts must say so. Caddy records such a request as 499, a 4xx, so a
// canary whose every request timed out was judged 100% successful.
func TestTimedOutRequestsCountAsFailuresOfTheirVersion(t *testing.T) {
	r := start(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	fast, _ := upstream(t, "A")
	ctx := context.Background()
	if err := r.Apply(ctx, weighted(
		proxy.Upstream{Addr: fast, Weight: 50, Version: "1"},
		proxy.Upstream{Addr: strings.TrimPrefix(slow.URL, "http://"), Weight: 50, Version: "2"})); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 300 * time.Millisecond}
	const n = 40
	timedOut := 0
	for range n {
		if _, _, err := proxytest.Get(c, "http://"+r.Addr()+"/", appHost); err != nil {
			timedOut++
		}
	}
	if timedOut == 0 || timedOut == n {
		t.Fatalf("%d of %d requests timed out, want some (version 2 never answers)", timedOut, n)
	}
	// The proxy counts a request once Caddy is done with it, a moment
	// after the client gave up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.Stats(appID)
		if st["1"].Requests+st["2"].Requests == n {
			if st["2"].Requests != uint64(timedOut) || st["2"].Errors() != uint64(timedOut) || st["2"].SuccessRate() != 0 {
				t.Fatalf("version 2: %d requests, %d errors, success rate %v; want all %d timed-out requests counted as errors",
					st["2"].Requests, st["2"].Errors(), st["2"].SuccessRate(), timedOut)
			}
			if st["1"].Errors() != 0 {
				t.Fatalf("version 1, which answered every request, has %d errors", st["1"].Errors())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats count %d requests, want %d: %+v", st["1"].Requests+st["2"].Requests, n, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
