package embedded

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Upstream switches do not reload Caddy: a reload hands new connections to
// a new server while the old one shuts down, and a connection caught in
// between is reset (about once in a hundred switches under load). Instead
// every route's reverse_proxy asks this module for its upstream on each
// request, and Apply only swaps the table entry. Adding or removing a
// route still loads a new config.
//
// The module picks the one upstream of each request itself, by weight, so
// a weight change is a table swap too, and it knows which version serves
// the request, for the per-version metrics (stats.go).

func init() { caddy.RegisterModule(Upstreams{}) }

// upstreamTable maps a route id to its upstreams ([]proxy.Upstream).
var upstreamTable sync.Map

// Upstreams is the Caddy module http.reverse_proxy.upstreams.slipway: the
// upstreams of route Route, as the embedded Router last set them.
type Upstreams struct {
	Route string `json:"route"`
}

// CaddyModule registers the module with Caddy.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.slipway",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

// GetUpstreams returns the upstream picked for the request, a fresh value:
// Caddy provisions it per request, so sharing it between requests would
// race.
func (u Upstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	v, ok := upstreamTable.Load(u.Route)
	if !ok {
		return nil, fmt.Errorf("slipway: no upstreams for route %s", u.Route)
	}
	up, ok := pick(v.([]proxy.Upstream))
	if !ok {
		return nil, fmt.Errorf("slipway: route %s has no upstream", u.Route)
	}
	if s, ok := r.Context().Value(servedKey{}).(*served); ok {
		s.route, s.version = u.Route, up.Version
	}
	return []*reverseproxy.Upstream{{Dial: up.Addr}}, nil
}

// pick chooses an upstream at random, each with the chance of its weight,
// or evenly when no upstream has a weight.
func pick(ups []proxy.Upstream) (proxy.Upstream, bool) {
	total := 0
	for _, u := range ups {
		total += u.Weight
	}
	if total == 0 {
		if len(ups) == 0 {
			return proxy.Upstream{}, false
		}
		return ups[rand.IntN(len(ups))], true
	}
	n := rand.IntN(total)
	for _, u := range ups {
		if n < u.Weight {
			return u, true
		}
		n -= u.Weight
	}
	return ups[len(ups)-1], true // unreachable: n < total
}

var _ reverseproxy.UpstreamSource = Upstreams{}
