package embedded

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Routes of one host split by path, header and cookie: the more specific
// match wins, the rest goes to the route without a match.
func TestRoutesOfOneHostSplitByMatch(t *testing.T) {
	r := start(t)
	addrA, _ := upstream(t, "A")
	addrB, _ := upstream(t, "B")
	addrC, _ := upstream(t, "C")
	ctx := context.Background()
	routes := []proxy.Route{
		{ID: "slipway-ab--default", Hosts: []string{appHost}, Upstreams: []proxy.Upstream{{Addr: addrA}}},
		{ID: "slipway-ab--header", Hosts: []string{appHost}, Upstreams: []proxy.Upstream{{Addr: addrB}},
			Match: &proxy.Match{Headers: []proxy.HeaderMatch{{Name: "X-Variant", Value: "b"}}}},
		{ID: "slipway-ab--cookie", Hosts: []string{appHost}, Upstreams: []proxy.Upstream{{Addr: addrB}},
			Match: &proxy.Match{Headers: []proxy.HeaderMatch{{Name: "Cookie", Value: `(^|;\s*)variant=b(;|$)`, Regex: true}}}},
		{ID: "slipway-ab--api", Hosts: []string{appHost}, Upstreams: []proxy.Upstream{{Addr: addrC}},
			Match: &proxy.Match{Path: "/api", PathPrefix: true}},
	}
	for _, rt := range routes {
		if err := r.Apply(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		path, header, value, want string
	}{
		{"/", "", "", "A"},
		{"/", "X-Variant", "b", "B"},
		{"/", "X-Variant", "a", "A"},
		{"/", "Cookie", "session=1; variant=b", "B"},
		{"/", "Cookie", "variant=bb", "A"},
		{"/api", "", "", "C"},
		{"/api/users", "", "", "C"},
		{"/apix", "", "", "A"},
	} {
		req, _ := http.NewRequest("GET", "http://"+r.Addr()+tc.path, nil)
		req.Host = appHost
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 16)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if got := string(body[:n]); got != tc.want {
			t.Errorf("GET %s with %s: %q = %q, want %q", tc.path, tc.header, tc.value, got, tc.want)
		}
	}
	dup := routes[1]
	dup.ID = "slipway-ab--header2"
	if err := r.Apply(ctx, dup); err == nil {
		t.Fatal("a second route of the same host and match was applied")
	}
}
