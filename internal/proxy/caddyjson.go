package proxy

import (
	"encoding/json"
	"fmt"
	"sort"
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
	Host []string `json:"host,omitempty"`
}

type caddyHandler struct {
	Handler          string          `json:"handler"`
	Upstreams        []caddyUpstream `json:"upstreams,omitempty"`
	DynamicUpstreams *caddyDynamic   `json:"dynamic_upstreams,omitempty"`
	StreamCloseDelay string          `json:"stream_close_delay,omitempty"`
	StatusCode       int             `json:"status_code,omitempty"`
	Body             string          `json:"body,omitempty"`
}

type caddyDynamic struct {
	Source string `json:"source"`
	Route  string `json:"route"`
}

type caddyUpstream struct {
	Dial string `json:"dial"`
}

// CaddyRoute returns the route as Caddy route JSON: a host matcher and a
// reverse_proxy handler, terminal so no later route runs after it.
func CaddyRoute(r Route, opt CaddyOptions) json.RawMessage {
	h := caddyHandler{Handler: "reverse_proxy"}
	if opt.UpstreamSource != "" {
		h.DynamicUpstreams = &caddyDynamic{Source: opt.UpstreamSource, Route: r.ID}
	} else {
		for _, u := range r.Upstreams {
			h.Upstreams = append(h.Upstreams, caddyUpstream{Dial: u.Addr})
		}
	}
	if opt.StreamCloseDelay > 0 {
		h.StreamCloseDelay = opt.StreamCloseDelay.String()
	}
	b, err := json.Marshal(caddyRoute{
		ID:       r.ID,
		Match:    []caddyMatch{{Host: r.Hosts}},
		Handle:   []caddyHandler{h},
		Terminal: true,
	})
	if err != nil {
		panic(fmt.Sprintf("proxy: marshal route: %v", err)) // plain strings only: cannot fail
	}
	return b
}

// CaddyNotFound is the last route of a server Slipway creates: without it
// Caddy answers 200 with an empty body for an unknown host.
func CaddyNotFound() json.RawMessage {
	b, _ := json.Marshal(caddyRoute{Handle: []caddyHandler{{
		Handler: "static_response", StatusCode: 404, Body: "slipway: no route for this host\n",
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
				for _, u := range h.Upstreams {
					r.Upstreams = append(r.Upstreams, Upstream{Addr: u.Dial})
				}
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
