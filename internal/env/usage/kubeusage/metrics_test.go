package kubeusage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/env/usage/kubeusage"
)

// apiServer stands in for an API server that refuses nodes/proxy to the
// reader and serves metrics.k8s.io: pod web-1 on node n1 uses half a core
// and 20 MiB by its metrics, refreshed every ten seconds.
type apiServer struct {
	mu      sync.Mutex
	metrics bool
	now     time.Time
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	switch {
	case r.URL.Path == "/api/v1/namespaces/shop/pods":
		answer(map[string]any{"kind": "PodList", "apiVersion": "v1", "items": []any{map[string]any{
			"metadata": map[string]any{"name": "web-1", "namespace": "shop", "uid": "u1", "labels": map[string]string{"app": "web"}},
			"spec": map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": "web",
				"resources": map[string]any{"limits": map[string]string{"memory": "64Mi"}}}}},
			"status": map[string]any{"phase": "Running", "conditions": []any{map[string]string{"type": "Ready", "status": "True"}}},
		}}})
	case strings.HasPrefix(r.URL.Path, "/api/v1/nodes/n1/proxy/"):
		w.WriteHeader(http.StatusForbidden)
		answer(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
			"message": `nodes "n1" is forbidden: cannot get resource "nodes/proxy"`})
	case r.URL.Path == "/apis/metrics.k8s.io/v1beta1" && a.metrics:
		answer(map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
			"resources": []any{map[string]any{"name": "pods", "namespaced": true, "kind": "PodMetrics", "verbs": []string{"get", "list"}}}})
	case r.URL.Path == "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods" && a.metrics:
		answer(map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": []any{map[string]any{
			"metadata": map[string]any{"name": "web-1", "namespace": "shop"}, "timestamp": a.now.Format(time.RFC3339), "window": "10s",
			"containers": []any{map[string]any{"name": "web", "usage": map[string]string{"cpu": "500m", "memory": "20Mi"}}},
		}}})
	default:
		http.NotFound(w, r)
	}
}

// TestMetricsAPIWhenTheSummaryIsRefused: a reader without nodes/proxy
// reads metrics.k8s.io instead: memory as it says, CPU seconds added up
// from its rate, so the sampler's CPU % is that rate; without the API the
// pass fails and says why.
func TestMetricsAPIWhenTheSummaryIsRefused(t *testing.T) {
	api := &apiServer{now: time.Now().Truncate(time.Second)}
	srv := httptest.NewServer(api)
	defer srv.Close()
	r, err := kubeusage.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string][]usage.PodSet{"shop-web": {{Namespace: "shop", Selector: "app=web", Service: "web"}}}
	if _, err := r.PodUsage(context.Background(), pods); err == nil || !strings.Contains(err.Error(), "metrics.k8s.io is not served") ||
		!strings.Contains(err.Error(), "refused (Forbidden") {
		t.Errorf("without metrics.k8s.io: %v; want the refusal and that metrics.k8s.io is not served", err)
	}

	api.mu.Lock()
	api.metrics = true
	api.mu.Unlock()
	s := &usage.Sampler{Targets: func(context.Context) ([]usage.Target, error) {
		return []usage.Target{{Key: "shop-web", Cluster: r, Pods: pods["shop-web"]}}, nil
	}}
	s.Pass(context.Background())
	api.mu.Lock()
	api.now = api.now.Add(10 * time.Second)
	api.mu.Unlock()
	s.Pass(context.Background())
	rep, _ := s.Get("shop-web")
	if len(rep.Services) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	web := rep.Services[0]
	if web.Service != "web" || !web.Up || web.MemoryBytes != 20<<20 || web.MemoryLimitBytes != 64<<20 ||
		web.CPUSeconds != 5 || web.CPUPercent != 50 || web.NetworkRxBytes != 0 {
		t.Errorf("web: %+v; want up, 20 MiB of 64, 5 CPU seconds over 10 s (50%%), no network figures", web)
	}
}
