package embedded

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Upstream switches do not reload Caddy: a reload hands new connections to
// a new server while the old one shuts down, and a connection caught in
// between is reset (about once in a hundred switches under load). Instead
// every route's reverse_proxy asks this module for its upstreams on each
// request, and Apply only swaps the table entry. Adding or removing a
// route still loads a new config.

func init() { caddy.RegisterModule(Upstreams{}) }

// upstreamTable maps a route id to its upstream addresses ([]string).
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

// GetUpstreams returns fresh Upstream values: Caddy provisions them per
// request, so sharing them between requests would race.
func (u Upstreams) GetUpstreams(*http.Request) ([]*reverseproxy.Upstream, error) {
	v, ok := upstreamTable.Load(u.Route)
	if !ok {
		return nil, fmt.Errorf("slipway: no upstreams for route %s", u.Route)
	}
	addrs := v.([]string)
	out := make([]*reverseproxy.Upstream, len(addrs))
	for i, a := range addrs {
		out[i] = &reverseproxy.Upstream{Dial: a}
	}
	return out, nil
}

var _ reverseproxy.UpstreamSource = Upstreams{}
