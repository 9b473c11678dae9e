package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Adding or removing a route loads a new Caddy config, and a Caddy config
// that listens itself cannot be replaced without failing requests of every
// hostname: its net/http server is shut down, and Shutdown closes the
// kept-alive connections a client may be sending its next request on,
// drops any request it reads after shutdown began (net/http's conn.serve
// returns without answering), and on Linux the kernel resets connections
// still queued on the old config's SO_REUSEPORT socket.
//
// So Caddy's server in Slipway's config has no listener. The Router's own
// http.Server owns the socket and every connection for the Router's whole
// life, and hands each request to the Caddy server of the config that runs
// now. A config change swaps that pointer; no connection is closed, and a
// request in flight finishes on the config it started on, as it would in
// Caddy. What Caddy's server adds around its handler is per connection
// (hooks that modules may register, TLS); the modules Slipway loads register
// none, and the proxy serves plain HTTP.

func init() { caddy.RegisterModule(App{}) }

// active is the Caddy server requests go to; nil when no config runs.
var active atomic.Pointer[caddyhttp.Server]

// App is the Caddy app "slipway". When a config starts, before the config
// it replaces stops, App makes that config's HTTP server the active one.
type App struct {
	ctx caddy.Context
	tls *tls.Config // the TLS app's settings, nil without HTTPS
}

// CaddyModule registers the app with Caddy.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "slipway", New: func() caddy.Module { return new(App) }}
}

// Provision keeps the config's context, to find its HTTP app at Start,
// and builds its TLS settings when it has a TLS app (https.go).
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	var err error
	a.tls, err = provisionTLS(ctx)
	return err
}

// Start activates the config's server. Caddy provisions every app of a
// config before it starts any, so the server is ready to serve.
func (a *App) Start() error {
	app, err := a.ctx.App("http")
	if err != nil {
		return err
	}
	srv, ok := app.(*caddyhttp.App).Servers[ServerName]
	if !ok {
		return fmt.Errorf("slipway app: no http server %q in the config", ServerName)
	}
	active.Store(srv)
	activeTLS.Store(a.tls)
	activeApp.Store(a)
	return nil
}

// activeApp is the slipway app of the config that runs now.
var activeApp atomic.Pointer[App]

// Stop does nothing: the next config's Start has already replaced the
// server, and Router.Close stops the connections.
func (a *App) Stop() error { return nil }

var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)

// serveActive serves a request with the active Caddy server, and counts
// its response under the route and version that served it (stats.go).
func serveActive(w http.ResponseWriter, r *http.Request) {
	srv := active.Load()
	if srv == nil {
		http.Error(w, "slipway: the proxy is stopping", http.StatusServiceUnavailable)
		return
	}
	var s served
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	srv.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), servedKey{}, &s)))
	if s.route != "" {
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		// The request's context ends before its handler returns only
		// when the client went away: it timed out or its connection
		// broke, so it never got the whole response, whatever status
		// Caddy wrote (499 for a client gone before the upstream
		// answered, a 4xx that would pass for a success).
		failed := r.Context().Err() != nil && sw.code/100 != 1
		stats.observe(s.route, s.version, sw.code, failed, time.Since(start))
	}
}

// newHTTPServer returns the server that owns the connections, with the
// limits Caddy's own server would have had (Caddy's defaults, as the config
// sets none).
func newHTTPServer(c *caddyhttp.Server) *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(serveActive),
		ReadTimeout:       time.Duration(c.ReadTimeout),
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout),
		WriteTimeout:      time.Duration(c.WriteTimeout),
		IdleTimeout:       time.Duration(c.IdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
	}
}
