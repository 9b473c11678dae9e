//go:build kube

package kube

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// requestCounter counts the requests a cluster connection sends, by
// method, dry runs apart.
type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	verb := r.Method
	if r.URL.Query().Has("dryRun") {
		verb = "dry-run " + verb
	}
	c.mu.Lock()
	c.n[verb]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := maps.Clone(c.n)
	clear(c.n)
	return n
}

// countedCluster connects to the test cluster through a requestCounter.
func countedCluster(t *testing.T, ns string) (*Cluster, *requestCounter) {
	t.Helper()
	cfg, err := Target{Kubeconfig: kubetest.Kubeconfig()}.restConfig()
	if err != nil {
		t.Fatal(err)
	}
	counter := &requestCounter{n: map[string]int{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}
	c, err := newCluster(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	return c, counter
}

func configMaps(n int, value string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for i := range n {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("cm-%03d", i)},
			"data":     map[string]any{"key": value},
		}})
	}
	return out
}

// TestNoChangeApplyWritesNothingAndReadsByList: a second apply of the same
// objects writes nothing, dry-runs each object once and reads the
// cluster's objects with a few LISTs (it read them one by one, twice:
// three requests per object, which made a pass over 1,000 objects take a
// minute); an object changed by hand is still put back.
func TestNoChangeApplyWritesNothingAndReadsByList(t *testing.T) {
	const n = 100
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	c, counter := countedCluster(t, ns)
	ctx := context.Background()
	owner := Owner{Installation: "test", Deployment: "cms"}
	opts := ApplyOptions{Wait: true, Timeout: time.Minute}

	if _, err := c.Apply(ctx, owner, configMaps(n, "one"), opts); err != nil {
		t.Fatal(err)
	}
	counter.take()
	st, err := c.Apply(ctx, owner, configMaps(n, "one"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st {
		if o.Action != "unchanged" || o.Health != "Current" {
			t.Errorf("%s: %s, %s; want unchanged, Current", o.Ref, o.Action, o.Health)
		}
	}
	got := counter.take()
	if w := got["POST"] + got["PUT"] + got["PATCH"] + got["DELETE"]; w > 0 {
		t.Errorf("a no-change apply wrote: %v", got)
	}
	if got["dry-run PATCH"] != n {
		t.Errorf("%d dry runs, want one per object (%d): %v", got["dry-run PATCH"], n, got)
	}
	if got["GET"] > 10 {
		t.Errorf("%d reads for %d objects, want a few LISTs: %v", got["GET"], n, got)
	}

	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: ns, Name: "cm-007"}
	if err := c.Client.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["key"] = "changed by hand"
	if err := c.Client.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	st, err = c.Apply(ctx, owner, configMaps(n, "one"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st {
		if want := map[bool]string{true: "configured", false: "unchanged"}[o.Name == "cm-007"]; o.Action != want {
			t.Errorf("after a change by hand: %s %s, want %s", o.Ref, o.Action, want)
		}
	}
	if err := c.Client.Get(ctx, key, &cm); err != nil || cm.Data["key"] != "one" {
		t.Errorf("cm-007 after the apply: %v %v, want key=one", cm.Data, err)
	}
}
