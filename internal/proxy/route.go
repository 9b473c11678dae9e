// Package proxy describes the routes that expose environment services
// through a reverse proxy, and the Router that installs them. The Caddy
// engines live in the embedded and external subpackages; this package
// imports no Caddy code, so callers that only build routes stay small.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/slug"
)

// IDPrefix starts the id of every route Slipway owns. Routes without it (the
// operator's own sites on an external Caddy) are never listed nor touched.
const IDPrefix = "slipway-"

// Route sends the requests for some hostnames to some upstreams.
type Route struct {
	// ID is the route's Caddy "@id", made by RouteID from slugs only.
	ID string
	// Hosts are the hostnames the route matches (exactly, no wildcard).
	Hosts []string
	// Upstreams receive the requests, load-balanced when there are several,
	// split by their weights when one has a weight.
	Upstreams []Upstream
	// Match, when set, takes only some requests of the hosts (match.go);
	// the embedded proxy only.
	Match *Match
}

// Upstream is one backend of a route.
type Upstream struct {
	// Addr is a host:port, e.g. 127.0.0.1:8040.
	Addr string
	// Weight is the upstream's share of the requests: an upstream gets
	// Weight / (sum of weights). When every weight is 0 the requests are
	// spread evenly; when one is not, an upstream of weight 0 gets none
	// (a canary rolled back, a blue kept for rollback).
	Weight int
	// Version labels the generation the upstream runs (e.g. "3" or a
	// digest's short form) for the per-version metrics of the embedded
	// proxy; "" when unknown.
	Version string
}

// MaxWeight bounds an upstream's weight: weights are shares, and an
// external Caddy gets an upstream once per unit of its reduced weight.
const MaxWeight = 1000

// Weighted reports whether the route splits by weight: one upstream has a
// weight.
func (r Route) Weighted() bool {
	for _, u := range r.Upstreams {
		if u.Weight > 0 {
			return true
		}
	}
	return false
}

// Router installs routes in a proxy. Implementations must be safe for
// concurrent use.
type Router interface {
	// Apply adds the route or replaces the route with the same ID in place,
	// so applying twice leaves one route and changing the upstreams switches
	// traffic without dropping requests.
	Apply(ctx context.Context, r Route) error
	// Remove deletes the route with that ID; removing a missing route is no
	// error.
	Remove(ctx context.Context, id string) error
	// List returns the routes Slipway owns, sorted by ID.
	List(ctx context.Context) ([]Route, error)
}

// ErrNotSlug is returned when a name that must be a slug is not one.
var ErrNotSlug = errors.New("not a slug (want lower-case letters, digits and single dashes; use internal/slug)")

// RouteID is the route id of a service of an environment:
// "slipway-<env_slug>--<service>". Slugs never hold "--" (internal/slug folds
// dash runs), so the double dash keeps ("a-b", "c") and ("a", "b-c") apart.
func RouteID(envSlug, service string) (string, error) {
	if err := CheckSlug("environment slug", envSlug); err != nil {
		return "", err
	}
	if err := CheckSlug("service", service); err != nil {
		return "", err
	}
	return IDPrefix + envSlug + "--" + service, nil
}

// ParseRouteID splits an id made by RouteID; ok is false for any other id.
func ParseRouteID(id string) (envSlug, service string, ok bool) {
	rest, found := strings.CutPrefix(id, IDPrefix)
	if !found {
		return "", "", false
	}
	envSlug, service, found = strings.Cut(rest, "--")
	if !found || CheckSlug("", envSlug) != nil || CheckSlug("", service) != nil {
		return "", "", false
	}
	return envSlug, service, true
}

// CheckSlug returns an error naming what when s is not a slug as
// internal/slug makes them.
func CheckSlug(what, s string) error {
	if s == "" || slug.Label(s) != s {
		return fmt.Errorf("%s %q: %w", what, s, ErrNotSlug)
	}
	return nil
}

// Validate checks the route before it reaches a proxy, naming the bad field.
func (r Route) Validate() error {
	if _, _, ok := ParseRouteID(r.ID); !ok {
		return fmt.Errorf("route id %q: want %s<env_slug>--<service> made by RouteID", r.ID, IDPrefix)
	}
	if len(r.Hosts) == 0 {
		return fmt.Errorf("route %s: hosts: none", r.ID)
	}
	for i, h := range r.Hosts {
		if err := CheckHostname(h); err != nil {
			return fmt.Errorf("route %s: hosts[%d]: %w", r.ID, i, err)
		}
	}
	if err := r.Match.Validate(); err != nil {
		return fmt.Errorf("route %s: %w", r.ID, err)
	}
	if len(r.Upstreams) == 0 {
		return fmt.Errorf("route %s: upstreams: none", r.ID)
	}
	for i, u := range r.Upstreams {
		host, port, err := net.SplitHostPort(u.Addr)
		if err == nil && host == "" {
			err = errors.New("missing host")
		}
		if err == nil {
			if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
				err = fmt.Errorf("bad port %q", port)
			}
		}
		if err != nil {
			return fmt.Errorf("route %s: upstreams[%d].addr %q: want host:port: %w", r.ID, i, u.Addr, err)
		}
		if u.Weight < 0 || u.Weight > MaxWeight {
			return fmt.Errorf("route %s: upstreams[%d].weight %d: want 0 to %d", r.ID, i, u.Weight, MaxWeight)
		}
		if !validVersion(u.Version) {
			return fmt.Errorf("route %s: upstreams[%d].version %q: want at most 64 letters, digits, '.', '_', ':' or '-'", r.ID, i, u.Version)
		}
	}
	return nil
}

// HostConflict returns an error when a route of routes other than rt
// (another id) already matches one of rt's hosts with the same Match:
// Caddy would serve only the first, so the second environment would
// silently get the first's app.
func HostConflict(routes []Route, rt Route) error {
	for _, other := range routes {
		if other.ID == rt.ID || !other.Match.Equal(rt.Match) {
			continue
		}
		for _, h := range other.Hosts {
			if slices.Contains(rt.Hosts, h) {
				return fmt.Errorf("route %s: host %s is already routed by %s", rt.ID, h, other.ID)
			}
		}
	}
	return nil
}

// validVersion keeps version labels short and printable: they become
// Prometheus label values and log fields.
func validVersion(v string) bool {
	if len(v) > 64 {
		return false
	}
	for _, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)
		if !ok {
			return false
		}
	}
	return true
}
