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

// configMaps are n ConfigMaps cm-000... with key=one, but those of
// changed, which hold their value there.
func configMaps(n int, changed map[string]string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for i := range n {
		name := fmt.Sprintf("cm-%03d", i)
		value := "one"
		if v, ok := changed[name]; ok {
			value = v
		}
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name},
			"data":     map[string]any{"key": value},
		}})
	}
	return out
}

// TestNoChangeApplyWritesNothingAndReadsByList: an apply of objects as
// the cluster already has them writes nothing and reads the cluster with
// a few LISTs (it read each object twice: three requests per object with
// its dry run, which made a pass over 1,000 objects take a minute); the
// next one dry-runs nothing, as neither git nor the cluster changed. An
// object changed by hand, even where git sets nothing, is dry-run again
// and put back; one git changes is applied.
func TestNoChangeApplyWritesNothingAndReadsByList(t *testing.T) {
	const n = 100
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	c, counter := countedCluster(t, ns)
	ctx := context.Background()
	owner := Owner{Installation: "test", Deployment: "cms"}
	opts := ApplyOptions{Wait: true, Timeout: time.Minute}
	apply := func(what string, changed map[string]string, want map[string]string, dryRuns int) {
		t.Helper()
		counter.take()
		st, err := c.Apply(ctx, owner, configMaps(n, changed), opts)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for _, o := range st {
			action := "unchanged"
			if a, ok := want[o.Name]; ok {
				action = a
			}
			if o.Action != action || o.Health != "Current" {
				t.Errorf("%s: %s: %s, %s; want %s, Current", what, o.Ref, o.Action, o.Health, action)
			}
		}
		got := counter.take()
		if w := got["POST"] + got["PUT"] + got["PATCH"] + got["DELETE"]; w != len(want) {
			t.Errorf("%s: %d writes, want %d: %v", what, w, len(want), got)
		}
		if got["dry-run PATCH"] != dryRuns {
			t.Errorf("%s: %d dry runs, want %d: %v", what, got["dry-run PATCH"], dryRuns, got)
		}
		if dryRuns == 0 && len(want) == 0 && got["GET"] != 1 {
			t.Errorf("%s: %d reads, want one LIST (the objects' health comes from it too): %v", what, got["GET"], got)
		}
		if got["GET"] > 10 {
			t.Errorf("%s: %d reads for %d objects, want a few LISTs: %v", what, got["GET"], n, got)
		}
	}

	if _, err := c.Apply(ctx, owner, configMaps(n, nil), opts); err != nil {
		t.Fatal(err)
	}
	apply("first no-change apply", nil, nil, n)
	apply("second no-change apply", nil, nil, 0)

	var cm corev1.ConfigMap
	byHand := func(name string, change func(*corev1.ConfigMap)) {
		t.Helper()
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
			t.Fatal(err)
		}
		change(&cm)
		if err := c.Client.Update(ctx, &cm); err != nil {
			t.Fatal(err)
		}
	}
	byHand("cm-007", func(cm *corev1.ConfigMap) { cm.Data["key"] = "changed by hand" })
	byHand("cm-009", func(cm *corev1.ConfigMap) { cm.Labels["extra"] = "by-hand" })
	apply("after changes by hand", nil, map[string]string{"cm-007": "configured"}, 2)
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cm-007"}, &cm); err != nil || cm.Data["key"] != "one" {
		t.Errorf("cm-007 after the apply: %v %v, want key=one", cm.Data, err)
	}
	// cm-007, written by the last apply, is dry-run once more: the version
	// a write gives an object is not known until it is read back.
	apply("after a change in git", map[string]string{"cm-008": "two"}, map[string]string{"cm-008": "configured"}, 2)
	apply("no change again", map[string]string{"cm-008": "two"}, nil, 1)
}
