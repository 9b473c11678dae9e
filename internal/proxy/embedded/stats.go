package embedded

import (
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Per-version metrics: serveActive puts a served in each request's
// context, the upstreams module fills in the route and the version it
// picked, and serveActive counts the response under them once Caddy has
// answered. Requests of hosts without a route are not counted.

type servedKey struct{}

// served is what the upstreams module tells serveActive about a request.
type served struct {
	route, version string
}

// statsTable holds the counters of every route's versions.
type statsTable struct {
	mu     sync.Mutex
	routes map[string]map[string]*proxy.Stats // route id -> version -> counts
	// live are the versions each route has now: a response that ends
	// after its version left is not counted, or the counts would come
	// back for good.
	live map[string]map[string]bool
}

var stats = statsTable{routes: map[string]map[string]*proxy.Stats{}, live: map[string]map[string]bool{}}

// observe counts a response of status code, or a failed request when
// failed (proxy.Stats.Failed).
func (t *statsTable) observe(route, version string, code int, failed bool, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.live[route][version] {
		return
	}
	vs := t.routes[route]
	if vs == nil {
		vs = map[string]*proxy.Stats{}
		t.routes[route] = vs
	}
	s := vs[version]
	if s == nil {
		s = &proxy.Stats{}
		vs[version] = s
	}
	if failed {
		s.ObserveFailed(took)
	} else {
		s.Observe(code, took)
	}
}

// keep drops the counters of the route's versions that are not in versions
// (nil drops the route's): a generation that left the route is gone for
// good, a new one starts from zero.
func (t *statsTable) keep(route string, versions map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if versions == nil {
		delete(t.live, route)
	} else {
		t.live[route] = versions
	}
	for v := range t.routes[route] {
		if !versions[v] {
			delete(t.routes[route], v)
		}
	}
	if len(t.routes[route]) == 0 {
		delete(t.routes, route)
	}
}

// snapshot copies the counters of a route.
func (t *statsTable) snapshot(route string) map[string]proxy.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]proxy.Stats{}
	for v, s := range t.routes[route] {
		c := *s
		c.Latency = append([]uint64(nil), s.Latency...)
		out[v] = c
	}
	return out
}

func (t *statsTable) routeIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, 0, len(t.routes))
	for id := range t.routes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Stats returns the response counts of the route by version (the
// upstreams' Version, "" for those without one).
func (r *Router) Stats(routeID string) map[string]proxy.Stats {
	return stats.snapshot(routeID)
}

// statusWriter remembers the status of the response. Unwrap lets
// http.ResponseController, which Caddy uses to flush and hijack, reach the
// connection's writer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Collector returns the proxy's Prometheus series:
// slipway_proxy_requests_total{route,version,code} with code a status class
// (2xx, ..., 5xx) or "failed" (requests that got no complete response:
// the client timed out or the connection broke) and slipway_proxy_request_duration_seconds{route,version}.
func (r *Router) Collector() prometheus.Collector { return collector{} }

var (
	requestsDesc = prometheus.NewDesc("slipway_proxy_requests_total",
		"Responses of the embedded proxy by route, version and status class.",
		[]string{"route", "version", "code"}, nil)
	durationDesc = prometheus.NewDesc("slipway_proxy_request_duration_seconds",
		"Duration of the embedded proxy's responses by route and version.",
		[]string{"route", "version"}, nil)
)

type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- durationDesc
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range stats.routeIDs() {
		for version, s := range stats.snapshot(id) {
			for class, n := range s.Classes {
				if n > 0 {
					ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n),
						id, version, strconv.Itoa(class)+"xx")
				}
			}
			if s.Failed > 0 {
				ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(s.Failed),
					id, version, "failed")
			}
			if s.Latency == nil {
				continue
			}
			buckets := map[float64]uint64{}
			var cum uint64
			for i, bound := range proxy.LatencyBuckets {
				cum += s.Latency[i]
				buckets[bound] = cum
			}
			cum += s.Latency[len(proxy.LatencyBuckets)]
			ch <- prometheus.MustNewConstHistogram(durationDesc, cum, s.LatencySum.Seconds(), buckets, id, version)
		}
	}
}
