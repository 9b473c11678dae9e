// Package registry embeds the distribution project's OCI registry as a
// library and adds what Slipway needs around it: authentication (htpasswd
// users and per-project tokens), the referrers API and the OCI-Subject
// header the library lacks, tag listings with push times, and a garbage
// collector that runs while the registry keeps serving.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the only storage we embed
	"github.com/sirupsen/logrus"
)

// Config describes one embedded registry.
type Config struct {
	// DataDir holds the blobs and repositories (created if missing).
	DataDir string
	// Auth decides who may pull and push; nil lets everyone do everything
	// (only sensible on loopback).
	Auth *Auth
	// Logger receives Slipway's own messages; nil discards them.
	Logger *slog.Logger
}

// Registry is the embedded registry as an http.Handler serving /v2/.
type Registry struct {
	dataDir string
	store   *Store
	app     *handlers.App
	auth    *Auth
	log     *slog.Logger
	refs    *referrers
	uploads keyedMutex // one request at a time per upload (upload.go)

	// writes is held shared by every request that adds content and
	// exclusively by the garbage collector's sweep, so a sweep never
	// deletes a blob a manifest is being pushed against. Pulls never take it.
	writes sync.RWMutex
	cancel context.CancelFunc
}

var quietLibrary sync.Once

// New opens (or creates) the registry stored under cfg.DataDir.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("registry: data folder is empty")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("registry: data folder %s: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("registry: data folder: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The library logs through logrus, every 404 at error level; Slipway
	// logs through slog. Silence it unless asked, for debugging.
	quietLibrary.Do(func() {
		level, err := logrus.ParseLevel(os.Getenv("SLIPWAY_REGISTRY_LIBRARY_LOG"))
		if err != nil {
			level = logrus.PanicLevel
		}
		logrus.SetLevel(level)
	})

	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			"delete":     configuration.Parameters{"enabled": true},
			// Redirects make no sense for a filesystem driver.
			"redirect": configuration.Parameters{"disable": true},
			// Stale uploads are purged by the library (default: older than a week, daily).
		},
	}
	conf.Log.AccessLog.Disabled = true
	// Non-distributable layers carry the URLs they are fetched from; the
	// registry never fetches them, so any http(s) URL is acceptable.
	conf.Validation.Manifests.URLs.Allow = []string{"^https?://"}

	ctx, cancel := context.WithCancel(ctx)
	app, err := newApp(ctx, conf)
	if err != nil {
		cancel()
		return nil, err
	}
	store := &Store{root: dir}
	r := &Registry{dataDir: dir, store: store, app: app, auth: cfg.Auth, log: log, cancel: cancel}
	r.refs = newReferrers(store)
	return r, nil
}

// newApp turns the library's panics on bad configuration into errors.
func newApp(ctx context.Context, conf *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registry: starting the distribution library: %v", p)
		}
	}()
	return handlers.NewApp(ctx, conf), nil
}

// Store gives read access to what the registry holds on disk.
func (r *Registry) Store() *Store { return r.store }

// DataDir is the folder the registry stores its content in.
func (r *Registry) DataDir() string { return r.dataDir }

// Close stops the library's background work.
func (r *Registry) Close() error {
	r.cancel()
	return r.app.Shutdown()
}

// ServeHTTP authenticates the request, answers what Slipway adds to the
// API (catalog, referrers, tag listings with times) and hands the rest to the library.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rt := parseRoute(req)
	p, ok := r.authorize(w, req, rt)
	if !ok {
		return
	}
	if rt.repo != "" && checkRepo(rt.repo) != nil {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name: lower-case components, at most 255 characters")
		return
	}
	switch {
	case rt.kind == routeCatalog:
		r.serveCatalog(w, req, p)
		return
	case rt.kind == routeReferrers:
		r.refs.serve(w, req, rt)
		return
	case rt.kind == routeSlipwayTags:
		r.serveTags(w, req, rt)
		return
	}
	if isWrite(req.Method) {
		r.writes.RLock()
		defer r.writes.RUnlock()
	}
	w, req, ok = r.fixDigests(w, req, rt)
	if !ok {
		return
	}
	if rt.kind == routeManifest && req.Method == http.MethodPut {
		r.putManifest(w, req)
		return
	}
	if rt.kind == routeUpload {
		r.serveUpload(w, req, rt)
		return
	}
	r.app.ServeHTTP(w, req)
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

type routeKind int

const (
	routeOther routeKind = iota
	routeBase
	routeCatalog
	routeManifest
	routeBlob
	routeUpload
	routeTags
	routeReferrers
	routeSlipwayTags
)

// route is what authorization and our extensions need to know of a request.
type route struct {
	kind      routeKind
	repo      string
	reference string // tag or digest of manifests, blobs and referrers
}

// parseRoute splits /v2/<name>/<kind>/<reference>. Repository names may hold
// slashes, so the kind is found from the end.
func parseRoute(req *http.Request) route {
	p := req.URL.Path
	if p == "/v2" || p == "/v2/" {
		return route{kind: routeBase}
	}
	if !strings.HasPrefix(p, "/v2/") {
		return route{kind: routeOther}
	}
	p = strings.TrimPrefix(p, "/v2/")
	if p == "_catalog" {
		return route{kind: routeCatalog}
	}
	if name, ok := strings.CutPrefix(p, "_slipway/tags/"); ok {
		return route{kind: routeSlipwayTags, repo: name}
	}
	if name, ok := strings.CutSuffix(p, "/tags/list"); ok {
		return route{kind: routeTags, repo: name}
	}
	parts := strings.Split(p, "/")
	for i := len(parts) - 2; i >= 1; i-- {
		name := strings.Join(parts[:i], "/")
		rest := parts[i+1:]
		switch parts[i] {
		case "manifests":
			if len(rest) == 1 {
				return route{kind: routeManifest, repo: name, reference: rest[0]}
			}
		case "referrers":
			if len(rest) == 1 {
				return route{kind: routeReferrers, repo: name, reference: rest[0]}
			}
		case "blobs":
			if len(rest) == 1 && rest[0] != "uploads" {
				return route{kind: routeBlob, repo: name, reference: rest[0]}
			}
			if len(rest) >= 1 && rest[0] == "uploads" {
				return route{kind: routeUpload, repo: name}
			}
		}
	}
	return route{kind: routeOther}
}
