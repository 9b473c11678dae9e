package proxy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// CaddyOptions tune the Caddy JSON of a route.
type CaddyOptions struct {
	// StreamCloseDelay keeps WebSockets and other upgraded streams open that
	// long after a config change; Caddy closes them at once otherwise, so a
	// change to any route would cut every environment's streams (Caddy 2.7+).
	StreamCloseDelay time.Duration
	// UpstreamSource, when set, names a dynamic upstreams module that
	// reverse_proxy asks for the route's upstreams by route id, instead of
	// the upstreams being written in the route (see package embedded).
	UpstreamSource string
}

// caddyRoute is the part of Caddy's route JSON Slipway writes and reads back.
type caddyRoute struct {
	ID       string         `json:"@id,omitempty"`
	Match    []caddyMatch   `json:"match,omitempty"`
	Handle   []caddyHandler `json:"handle"`
	Terminal bool           `json:"terminal,omitempty"`
}

type caddyMatch struct {
	Host         []string                `json:"host,omitempty"`
	Path         []string                `json:"path,omitempty"`
	Header       map[string][]string     `json:"header,omitempty"`
	HeaderRegexp map[string]caddyPattern `json:"header_regexp,omitempty"`
}

type caddyPattern struct {
	Pattern string `json:"pattern"`
}

// caddyMatchOf is the Caddy matcher set of the route's hosts and Match.
// Caddy has one header_regexp per header name; Validate does not check
// that, a second pattern of a name replaces the first.
func caddyMatchOf(r Route) caddyMatch {
	cm := caddyMatch{Host: r.Hosts}
	m := r.Match
	if m.IsZero() {
		return cm
	}
	switch {
	case m.Path == "" || m.PathPrefix && m.Path == "/":
	case m.PathPrefix:
		p := strings.TrimSuffix(m.Path, "/")
		cm.Path = []string{p, p + "/*"}
	default:
		cm.Path = []string{m.Path}
	}
	for _, h := range m.Headers {
		if h.Regex {
			if cm.HeaderRegexp == nil {
				cm.HeaderRegexp = map[string]caddyPattern{}
			}
			cm.HeaderRegexp[h.Name] = caddyPattern{Pattern: h.Value}
			continue
		}
		if cm.Header == nil {
			cm.Header = map[string][]string{}
		}
		cm.Header[h.Name] = []string{h.Value}
	}
	return cm
}

type caddyHandler struct {
	Handler          string          `json:"handler"`
	Upstreams        []caddyUpstream `json:"upstreams,omitempty"`
	LoadBalancing    *caddyLB        `json:"load_balancing,omitempty"`
	DynamicUpstreams *caddyDynamic   `json:"dynamic_upstreams,omitempty"`
	StreamCloseDelay string          `json:"stream_close_delay,omitempty"`
	StatusCode       int             `json:"status_code,omitempty"`
	Body             string          `json:"body,omitempty"`
}

type caddyDynamic struct {
	Source string `json:"source"`
	Route  string `json:"route"`
}

// caddyLB is reverse_proxy's load_balancing: Slipway sets only the
// round_robin policy of weighted routes.
type caddyLB struct {
	SelectionPolicy *caddyPolicy `json:"selection_policy,omitempty"`
}

type caddyPolicy struct {
	Policy string `json:"policy"`
}

type caddyUpstream struct {
	Dial string `json:"dial"`
}

// CaddyRoute returns the route as Caddy route JSON: a host matcher and a
// reverse_proxy handler, terminal so no later route runs after it.
//
// A weighted route written with its upstreams lists each upstream
// weight/gcd times under the round_robin policy, so 90/10 is 9 of A then 1
// of B: Caddy's weighted_round_robin policy would say it shorter, but only
// from Caddy 2.7 on, and Debian ships 2.6. With an UpstreamSource the
// source weighs. Versions are not written: Caddy's JSON has no place for
// them.
func CaddyRoute(r Route, opt CaddyOptions) json.RawMessage {
	h := caddyHandler{Handler: "reverse_proxy"}
	if opt.UpstreamSource != "" {
		h.DynamicUpstreams = &caddyDynamic{Source: opt.UpstreamSource, Route: r.ID}
	} else {
		weighted, g := r.Weighted(), weightGCD(r.Upstreams)
		for _, u := range r.Upstreams {
			n := 1
			if weighted {
				n = u.Weight / g
			}
			for range n {
				h.Upstreams = append(h.Upstreams, caddyUpstream{Dial: u.Addr})
			}
		}
		if weighted {
			h.LoadBalancing = &caddyLB{SelectionPolicy: &caddyPolicy{Policy: "round_robin"}}
		}
	}
	if opt.StreamCloseDelay > 0 {
		h.StreamCloseDelay = opt.StreamCloseDelay.String()
	}
	b, err := json.Marshal(caddyRoute{
		ID:       r.ID,
		Match:    []caddyMatch{caddyMatchOf(r)},
		Handle:   []caddyHandler{h},
		Terminal: true,
	})
	if err != nil {
		panic(fmt.Sprintf("proxy: marshal route: %v", err)) // plain strings only: cannot fail
	}
	return b
}

// NoRoute is the body of the proxy's 404 for a host without a route.
const NoRoute = "slipway: no route for this host\n"

// CaddyNotFound is the last route of a server Slipway creates: without it
// Caddy answers 200 with an empty body for an unknown host.
func CaddyNotFound() json.RawMessage {
	b, _ := json.Marshal(caddyRoute{Handle: []caddyHandler{{
		Handler: "static_response", StatusCode: 404, Body: NoRoute,
	}}})
	return b
}

// RoutesFromCaddy returns the Slipway routes among Caddy route JSON, sorted
// by ID; other routes are skipped.
func RoutesFromCaddy(raw []json.RawMessage) ([]Route, error) {
	var out []Route
	for i, m := range raw {
		var cr caddyRoute
		if err := json.Unmarshal(m, &cr); err != nil {
			return nil, fmt.Errorf("caddy route %d: %w", i, err)
		}
		if _, _, ok := ParseRouteID(cr.ID); !ok {
			continue
		}
		r := Route{ID: cr.ID}
		for _, mt := range cr.Match {
			r.Hosts = append(r.Hosts, mt.Host...)
		}
		for _, h := range cr.Handle {
			if h.Handler == "reverse_proxy" {
				r.Upstreams = upstreamsFromCaddy(h)
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// upstreamsFromCaddy reads back the upstreams CaddyRoute wrote: the
// repeats of a weighted route are its weights, reduced by their gcd, and
// its upstreams of weight 0 are gone.
func upstreamsFromCaddy(h caddyHandler) []Upstream {
	weighted := h.LoadBalancing != nil && h.LoadBalancing.SelectionPolicy != nil &&
		h.LoadBalancing.SelectionPolicy.Policy == "round_robin"
	var out []Upstream
	at := map[string]int{}
	for _, u := range h.Upstreams {
		if i, ok := at[u.Dial]; ok && weighted {
			out[i].Weight++
			continue
		}
		at[u.Dial] = len(out)
		up := Upstream{Addr: u.Dial}
		if weighted {
			up.Weight = 1
		}
		out = append(out, up)
	}
	return out
}

// weightGCD is the greatest common divisor of the positive weights, 1
// when there is none.
func weightGCD(ups []Upstream) int {
	g := 0
	for _, u := range ups {
		a, b := u.Weight, g
		for b != 0 {
			a, b = b, a%b
		}
		g = a
	}
	if g == 0 {
		return 1
	}
	return g
}
