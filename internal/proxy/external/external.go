// Package external writes Slipway's routes to a Caddy that runs on its own,
// through Caddy's admin API, as the seed's scripts did with curl: routes
// carry an "@id", so they are read, patched and deleted at /id/<id>, and the
// rest of that Caddy's config (the operator's sites) is never touched.
package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Config configures the external proxy (config keys under proxy.external).
type Config struct {
	// AdminURL is Caddy's admin endpoint, e.g. http://127.0.0.1:2019
	// (proxy.external.admin_url).
	AdminURL string `yaml:"admin_url"`
	// Server is the name of the server under apps.http.servers that gets the
	// routes (proxy.external.server), DefaultServer when empty. A Caddyfile
	// names its first server srv0.
	Server string `yaml:"server"`
	// Listen is used only when Slipway has to create that server
	// (proxy.external.listen), e.g. ":80".
	Listen string `yaml:"listen"`
	// StreamCloseDelay is written to each route's reverse_proxy when set
	// (proxy.external.stream_close_delay); it needs Caddy 2.7 or later.
	StreamCloseDelay time.Duration `yaml:"stream_close_delay"`
}

// DefaultServer is the server name used when Config.Server is empty.
const DefaultServer = "slipway"

// Router writes routes to an external Caddy. It implements proxy.Router.
type Router struct {
	admin  *url.URL
	cfg    Config
	client *http.Client

	// mu serializes this process's changes: Caddy 2.6 accepts a second
	// route with an @id already in use, so check-then-insert must not race.
	mu           sync.Mutex
	serverExists bool
}

var _ proxy.Router = (*Router)(nil)

// New returns a Router for the Caddy at cfg.AdminURL. It does not connect.
func New(cfg Config) (*Router, error) {
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("proxy.external.admin_url %q: want http://host:port", cfg.AdminURL)
	}
	if cfg.Server == "" {
		cfg.Server = DefaultServer
	}
	if cfg.Listen == "" {
		cfg.Listen = ":80"
	}
	return &Router{admin: u, cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Apply inserts the route first in the server's routes, ahead of any
// catch-all of the operator, or patches the route with that id in place.
func (r *Router) Apply(ctx context.Context, rt proxy.Route) error {
	if err := rt.Validate(); err != nil {
		return err
	}
	if !rt.Match.IsZero() {
		// Routes read back from Caddy carry no match: List could not
		// tell two routes of one host apart.
		return fmt.Errorf("route %s: match: only the embedded proxy routes by path and header", rt.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureServer(ctx); err != nil {
		return err
	}
	routes, err := r.list(ctx)
	if err != nil {
		return err
	}
	if err := proxy.HostConflict(routes, rt); err != nil {
		return err
	}
	body := proxy.CaddyRoute(rt, proxy.CaddyOptions{StreamCloseDelay: r.cfg.StreamCloseDelay})
	for _, have := range routes {
		if have.ID != rt.ID {
			continue
		}
		if reflect.DeepEqual(have, rt) {
			return nil
		}
		if _, err := r.do(ctx, http.MethodPatch, "/id/"+rt.ID, body); err != nil {
			return fmt.Errorf("apply route %s: %w", rt.ID, err)
		}
		return nil
	}
	return r.insert(ctx, rt, body)
}

// insert puts the route first. An insert is the one admin call that is
// not idempotent: after a reset (Caddy restarts its admin endpoint on each
// config load) it looks whether the route arrived before trying again, so
// that a retry never adds it twice.
func (r *Router) insert(ctx context.Context, rt proxy.Route, body []byte) error {
	for attempt := 1; ; attempt++ {
		_, err := r.do(ctx, http.MethodPut, r.routesPath()+"/0", body)
		if err == nil {
			return nil
		}
		if !transient(err) || attempt == adminAttempts {
			return fmt.Errorf("apply route %s: %w", rt.ID, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("apply route %s: %w", rt.ID, err)
		}
		routes, lerr := r.list(ctx)
		if lerr != nil {
			return fmt.Errorf("apply route %s: %w (then: %w)", rt.ID, err, lerr)
		}
		for _, have := range routes {
			if have.ID == rt.ID {
				return nil
			}
		}
	}
}

// adminAttempts bounds the tries of one admin call that Caddy reset.
const adminAttempts = 5

// transient reports whether an admin call failed because Caddy was
// restarting its admin endpoint (it does on every config load): the
// connection was reset or refused before an answer came.
func transient(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// pause waits a little longer after each failed attempt.
func pause(ctx context.Context, attempt int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		return nil
	}
}

// Remove deletes every route with that id (Caddy 2.6 may hold duplicates
// written by another process); a missing route is no error.
func (r *Router) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range 10 {
		_, err := r.do(ctx, http.MethodDelete, "/id/"+url.PathEscape(id), nil)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove route %s: %w", id, err)
		}
	}
	return fmt.Errorf("remove route %s: still present after 10 deletions", id)
}

// List returns Slipway's routes in the server, read from Caddy.
func (r *Router) List(ctx context.Context) ([]proxy.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list(ctx)
}

func (r *Router) list(ctx context.Context) ([]proxy.Route, error) {
	b, err := r.do(ctx, http.MethodGet, r.routesPath(), nil)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("list routes: %s: %w", r.routesPath(), err)
	}
	return proxy.RoutesFromCaddy(raw)
}

func (r *Router) routesPath() string {
	return "/config/apps/http/servers/" + url.PathEscape(r.cfg.Server) + "/routes"
}

// ensureServer creates apps.http.servers.<server> when missing: with the
// configured listen address, automatic HTTPS off and Slipway's 404 as the
// last route. It creates only the missing part of the path, so the
// operator's other apps and servers stay as they are.
func (r *Router) ensureServer(ctx context.Context) error {
	if r.serverExists {
		return nil
	}
	path := []string{"apps", "http", "servers", r.cfg.Server}
	var value any = map[string]any{
		"listen":          []string{r.cfg.Listen},
		"automatic_https": map[string]any{"disable": true},
		"routes":          []json.RawMessage{proxy.CaddyNotFound()},
	}
	for i := len(path); i >= 0; i-- {
		if i < len(path)-1 {
			value = map[string]any{path[i+1]: value} // what to create at path[:i+1]
		}
		exists, err := r.exists(ctx, path[:i])
		if err != nil {
			return fmt.Errorf("proxy server %s: %w", r.cfg.Server, err)
		}
		if exists {
			if i < len(path) {
				b, _ := json.Marshal(value)
				if _, err := r.do(ctx, http.MethodPost, configPath(path[:i+1]), b); err != nil {
					return fmt.Errorf("create proxy server %s: %w", r.cfg.Server, err)
				}
			}
			r.serverExists = true
			return nil
		}
	}
	return fmt.Errorf("proxy server %s: the admin API has no config root", r.cfg.Server)
}

// exists reports whether Caddy's config has a non-null value at path; the
// root always exists.
func (r *Router) exists(ctx context.Context, path []string) (bool, error) {
	if len(path) == 0 {
		return true, nil
	}
	b, err := r.do(ctx, http.MethodGet, configPath(path), nil)
	if errors.Is(err, errNotFound) || errors.Is(err, errBadPath) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) != "null", nil
}

func configPath(path []string) string {
	var b strings.Builder
	b.WriteString("/config")
	for _, p := range path {
		b.WriteString("/" + url.PathEscape(p))
	}
	return b.String()
}

var (
	errNotFound = errors.New("not found")
	errBadPath  = errors.New("path not in config")
)

// do sends one admin API request and returns the response body; Caddy's
// {"error": ...} becomes the error text. Idempotent calls (all but the
// insert's PUT, which insert retries itself) are tried again when Caddy
// reset them.
func (r *Router) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		b, err := r.once(ctx, method, path, body)
		if err == nil || method == http.MethodPut || !transient(err) || attempt == adminAttempts {
			return b, err
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// once sends one admin API request.
func (r *Router) once(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	u := *r.admin
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// net/http redacts a password of the URL in its errors.
		return nil, fmt.Errorf("caddy admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("caddy admin %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		err = errNotFound
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(msg, "invalid traversal path"):
		err = errBadPath
	default:
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil, fmt.Errorf("caddy admin %s %s at %s: %s: %w", method, path, r.admin.Redacted(), msg, err)
}
