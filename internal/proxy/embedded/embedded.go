// Package embedded runs Caddy inside the Slipway process as its reverse
// proxy. The Router keeps the whole Caddy JSON config and loads it with
// caddy.Load when a route is added or removed; Caddy's admin endpoint stays
// off, so nothing else can change it behind our back. The Router's own
// http.Server owns the connections and hands each request to the Caddy
// server of the running config, so a config change closes no connection
// (serve.go). Upstream switches and weight changes only change the table
// the routes' reverse_proxy reads (upstreams.go). Responses are counted by
// route and version (stats.go).
package embedded

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	// The Caddy modules the config uses, no more: the HTTP app with its
	// host matcher and static_response, reverse_proxy, file storage.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/slipway-cd/slipway/internal/httpdrain"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// Config configures the embedded proxy (config keys under proxy.embedded).
type Config struct {
	// Listen is the address the HTTP server listens on (proxy.embedded.listen),
	// DefaultListen when empty.
	Listen string `yaml:"listen"`
	// StorageDir is where Caddy may keep state such as locks; Caddy's own
	// default (~/.local/share/caddy) when empty (proxy.embedded.storage_dir).
	StorageDir string `yaml:"storage_dir"`
	// LogLevel is Caddy's log level (proxy.embedded.log_level), WARN when empty.
	LogLevel string `yaml:"log_level"`
	// GracePeriod bounds how long requests in flight may run when the proxy
	// stops (proxy.embedded.grace_period); DefaultGracePeriod when zero. A
	// config change cuts no request, so it needs no grace period.
	GracePeriod time.Duration `yaml:"grace_period"`
	// StreamCloseDelay keeps WebSockets open across config changes
	// (proxy.embedded.stream_close_delay); DefaultStreamCloseDelay when zero.
	StreamCloseDelay time.Duration `yaml:"stream_close_delay"`
	// HTTPS serves the routes over TLS as well (proxy.embedded.https).
	HTTPS HTTPSConfig `yaml:"https"`
}

// Defaults of Config.
const (
	DefaultListen           = "127.0.0.1:8080"
	DefaultGracePeriod      = 30 * time.Second
	DefaultStreamCloseDelay = 10 * time.Minute
)

// ServerName is the name of Slipway's server in the Caddy config.
const ServerName = "slipway"

// running guards Caddy's process-wide state: one embedded proxy at a time.
var running atomic.Bool

// Router is the embedded Caddy. It implements proxy.Router.
type Router struct {
	cfg   Config
	http  *http.Server     // owns the socket and the connections
	drain *httpdrain.Drain // closes silent connections at Close
	// https and httpsDrain are the same for TLS, nil without HTTPS.
	https      *http.Server
	httpsDrain *httpdrain.Drain

	mu     sync.Mutex
	routes map[string]proxy.Route
	loaded []byte // the config Caddy runs now
	closed bool
}

var _ proxy.Router = (*Router)(nil)

// Start starts Caddy with no route: every host gets Slipway's 404. Close
// stops it. Only one Router may run in a process, as Caddy is a singleton.
func Start(ctx context.Context, cfg Config) (*Router, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("proxy.embedded.listen %q: %w", cfg.Listen, err)
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "WARN"
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.StreamCloseDelay <= 0 {
		cfg.StreamCloseDelay = DefaultStreamCloseDelay
	}
	if err := cfg.HTTPS.check(); err != nil {
		return nil, err
	}
	if cfg.HTTPS.Listen != "" {
		if _, _, err := net.SplitHostPort(cfg.HTTPS.Listen); err != nil {
			return nil, fmt.Errorf("proxy.embedded.https.listen %q: %w", cfg.HTTPS.Listen, err)
		}
	}
	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("embedded proxy: Caddy already runs in this process")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		running.Store(false)
		return nil, fmt.Errorf("embedded proxy: %w", err)
	}
	cfg.Listen = ln.Addr().String() // the port a :0 got
	var tlsLn net.Listener
	if cfg.HTTPS.Listen != "" {
		if tlsLn, err = net.Listen("tcp", cfg.HTTPS.Listen); err != nil {
			ln.Close()
			running.Store(false)
			return nil, fmt.Errorf("embedded proxy: https: %w", err)
		}
		cfg.HTTPS.Listen = tlsLn.Addr().String()
	}
	r := &Router{cfg: cfg, routes: map[string]proxy.Route{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		ln.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		running.Store(false)
		return nil, fmt.Errorf("embedded proxy: start on %s: %w", cfg.Listen, err)
	}
	r.http = newHTTPServer(active.Load())
	r.drain = httpdrain.Track(r.http)
	go r.http.Serve(ln)
	if tlsLn != nil {
		r.https = newHTTPServer(active.Load())
		r.httpsDrain = httpdrain.Track(r.https)
		go r.https.Serve(tls.NewListener(tlsLn, serverTLS()))
	}
	return r, nil
}

// HTTPSAddr is the address the proxy serves HTTPS on, "" without HTTPS.
func (r *Router) HTTPSAddr() string { return r.cfg.HTTPS.Listen }

// RootCA returns the PEM of the local CA that signs the certificates of
// hostnames without a public one: browsers and clients that trust it get
// review URLs over HTTPS without a warning.
func (r *Router) RootCA() ([]byte, error) {
	a := activeApp.Load()
	if a == nil || r.https == nil {
		return nil, errors.New("no local CA: HTTPS is off (proxy.embedded.https.listen)")
	}
	return rootCA(a.ctx)
}

// Addr is the address the proxy listens on, with the port it got when
// Listen asked for :0.
func (r *Router) Addr() string { return r.cfg.Listen }

// Apply adds or replaces the route. A route equal to the one running loads
// nothing; an upstream switch loads nothing either (upstreams.go). A new
// route or new hosts load a new config, which drops no request (serve.go).
func (r *Router) Apply(ctx context.Context, rt proxy.Route) error {
	if err := rt.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("embedded proxy: closed")
	}
	others := make([]proxy.Route, 0, len(r.routes))
	for _, o := range r.routes {
		others = append(others, o)
	}
	if err := proxy.HostConflict(others, rt); err != nil {
		return err
	}
	prev, had := r.routes[rt.ID]
	r.routes[rt.ID] = rt
	setUpstreams(rt)
	if had && slices.Equal(prev.Hosts, rt.Hosts) && prev.Match.Equal(rt.Match) {
		return nil // an upstream switch: no reload (see upstreams.go)
	}
	if err := r.load(); err != nil {
		if had {
			r.routes[rt.ID] = prev
			setUpstreams(prev)
		} else {
			delete(r.routes, rt.ID)
			upstreamTable.Delete(rt.ID)
			stats.keep(rt.ID, nil)
		}
		return fmt.Errorf("apply route %s: %w", rt.ID, err)
	}
	return nil
}

func setUpstreams(rt proxy.Route) {
	versions := map[string]bool{}
	for _, u := range rt.Upstreams {
		versions[u.Version] = true
	}
	upstreamTable.Store(rt.ID, slices.Clone(rt.Upstreams))
	stats.keep(rt.ID, versions)
}

// Remove deletes the route; a missing route is no error.
func (r *Router) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, had := r.routes[id]
	if !had || r.closed {
		return nil
	}
	delete(r.routes, id)
	if err := r.load(); err != nil {
		r.routes[id] = prev
		return fmt.Errorf("remove route %s: %w", id, err)
	}
	upstreamTable.Delete(id)
	stats.keep(id, nil)
	return nil
}

// List returns the routes. Their ids and hosts are those of the config
// Caddy runs; their upstreams those the routes' reverse_proxy asks for.
func (r *Router) List(ctx context.Context) ([]proxy.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]proxy.Route, 0, len(r.routes))
	for _, rt := range r.routes {
		out = append(out, rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Config returns the Caddy JSON config that runs now, for display.
func (r *Router) Config() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.loaded...)
}

// Close stops listening, lets requests in flight finish within the grace
// period, then stops Caddy.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	defer running.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.GracePeriod)
	defer cancel()
	var errs []error
	if err := r.drain.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("embedded proxy: shutdown after %s: %w", r.cfg.GracePeriod, err))
		r.http.Close()
	}
	if r.https != nil {
		if err := r.httpsDrain.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embedded proxy: https shutdown after %s: %w", r.cfg.GracePeriod, err))
			r.https.Close()
		}
	}
	for id := range r.routes {
		upstreamTable.Delete(id)
		stats.keep(id, nil)
	}
	if err := caddy.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("embedded proxy: stop: %w", err))
	}
	active.Store(nil)
	activeTLS.Store(nil)
	activeApp.Store(nil)
	return errors.Join(errs...)
}

// load renders the whole config from r.routes and runs it. r.mu is held.
func (r *Router) load() error {
	b, err := json.Marshal(r.render())
	if err != nil {
		return err
	}
	prev := active.Load()
	if err := caddy.Load(b, false); err != nil {
		active.Store(prev) // the old config runs on
		return err
	}
	r.loaded = b
	return nil
}

func (r *Router) render() map[string]any {
	ids := make([]string, 0, len(r.routes))
	for id := range r.routes {
		ids = append(ids, id)
	}
	// Caddy tries routes in order: the more specific match first.
	sort.Slice(ids, func(i, j int) bool { return proxy.Precedes(r.routes[ids[i]], r.routes[ids[j]]) })
	routes := make([]json.RawMessage, 0, len(ids)+1)
	opt := proxy.CaddyOptions{StreamCloseDelay: r.cfg.StreamCloseDelay, UpstreamSource: "slipway"}
	for _, id := range ids {
		routes = append(routes, proxy.CaddyRoute(r.routes[id], opt))
	}
	routes = append(routes, proxy.CaddyNotFound())

	cfg := map[string]any{
		"admin": map[string]any{
			"disabled": true,
			"config":   map[string]any{"persist": false},
		},
		"logging": map[string]any{
			"logs": map[string]any{"default": map[string]any{"level": r.cfg.LogLevel}},
		},
		"apps": map[string]any{
			"http": map[string]any{
				"servers": map[string]any{
					// No listen: the Router's http.Server owns the
					// socket and hands requests to this server.
					ServerName: map[string]any{
						"automatic_https": map[string]any{"disable": true},
						"routes":          routes,
					},
				},
			},
			"slipway": map[string]any{},
		},
	}
	if r.cfg.HTTPS.Listen != "" {
		var hosts []string
		for _, id := range ids {
			hosts = append(hosts, r.routes[id].Hosts...)
		}
		slices.Sort(hosts) // routes of one host by match name it once
		hosts = slices.Compact(hosts)
		apps := cfg["apps"].(map[string]any)
		apps["tls"], apps["pki"] = r.cfg.HTTPS.tlsApp(hosts)
	}
	if r.cfg.StorageDir != "" {
		cfg["storage"] = map[string]any{"module": "file_system", "root": r.cfg.StorageDir}
	}
	return cfg
}
