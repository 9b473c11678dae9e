//go:build kube

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// The CLI's whole path onto a cluster: deploy serve with a kubernetes:
// section, a first run (at once: nothing to compare with), a canary of the
// version deploy.yaml names now while users ask through serve's proxy
// (only 200s, from both versions), status from the cluster, and remove
// (the namespace gone, the proxy's 404).
func TestDeployCLICanaryOnTheCluster(t *testing.T) {
	c := kubetest.Cluster(t)
	dir := t.TempDir()
	listen, control := testenv.FreeAddr(t), testenv.FreeAddr(t)
	prefix := "k" + strings.ToLower(rand.Text()[:8]) + "-"
	ns := prefix + slug.Environment("kcli")
	t.Cleanup(func() { // whatever the test left
		_ = c.Do(context.Background(), http.MethodDelete, "/api/v1/namespaces/"+ns, "", nil, nil)
	})
	gitopsWriteFile(t, filepath.Join(dir, "compose.yaml"), `services:
  web:
    image: `+kubetest.BusyboxImage+`
    command: [-c, 'mkdir -p /www && echo "$$MARK" > /www/index.html && exec httpd -f -p 8080 -h /www']
    environment: {MARK: "${MARK}"}
    x-slipway: {expose: true, main: true, port: 8080, health: /index.html}
`)
	config := func(mark string) {
		gitopsWriteFile(t, filepath.Join(dir, "deploy.yaml"), fmt.Sprintf(`domain: kcli.test
proxy: {listen: %q, control: %q}
kubernetes:
  kubeconfig: %q
  namespace_prefix: %s
targets:
  kcli:
    compose: compose.yaml
    vars: {MARK: %s}
    strategy: canary
    drain: 200ms
    canary: {steps: [50, 100], interval: 2s, min_requests: 1, max_failed_checks: 20}
`, listen, control, kubetest.Kubeconfig(), prefix, mark))
	}
	config("v1")
	logs := startDeployServe(t, dir)
	waitForLog(t, logs, "deploy serve: ready")

	out, stderr, code := slipway(t, dir, "deploy", "run", "--target", "kcli")
	if code != 0 || !strings.Contains(out, "kcli: canary generation 1 succeeded") {
		t.Fatalf("first deploy run: exit %d\n%s%s", code, out, stderr)
	}
	// The cluster's steps in serve's log, in its format and levels.
	if !strings.Contains(logs.String(), `level=INFO msg="kubehost: ready" env=kcli namespace=`+ns) {
		t.Errorf("deploy serve's log has no line of generation 1 ready on the cluster:\n%s", logs)
	}
	users := cliLoad(t, listen, "kcli.kcli.test", 2)
	users.waitFor(t, 10)
	if counts := users.snapshot(); !only(counts, "200 v1") {
		t.Fatalf("answers of generation 1 through serve's proxy: %v, want 200 v1", counts)
	}

	config("v2")
	out, stderr, code = slipway(t, dir, "deploy", "run", "--target", "kcli")
	users.waitFor(t, 10)
	counts := users.stop()
	if code != 0 || !strings.Contains(out, "kcli: canary generation 2 succeeded") || !strings.Contains(out, "canary 50%") {
		t.Fatalf("canary deploy run: exit %d\n%s%s", code, out, stderr)
	}
	if !only(counts, "200 v1", "200 v2") || counts["200 v2"] == 0 {
		t.Fatalf("answers during the canary: %v; want only 200s, from both versions", counts)
	}
	t.Logf("answers during the canary: %v\n%s", counts, out)
	if code, body, err := proxytest.Get(&http.Client{Timeout: 10 * time.Second}, "http://"+listen+"/", "kcli.kcli.test"); err != nil || code != 200 || strings.TrimSpace(body) != "v2" {
		t.Fatalf("after the canary the proxy answers %d %q %v, want v2", code, body, err)
	}

	out, _, code = slipway(t, dir, "deploy", "status")
	if code != 0 || !strings.Contains(out, "kcli") || !strings.Contains(out, "stable") || strings.Contains(out, "not deployed") {
		t.Fatalf("deploy status: exit %d\n%s", code, out)
	}
	out, _, code = slipway(t, dir, "deploy", "status", "--json")
	var status []struct {
		Generations []struct {
			Number int    `json:"number"`
			Role   string `json:"role"`
		} `json:"generations"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &status) != nil || len(status) != 1 || len(status[0].Generations) != 1 ||
		status[0].Generations[0].Number != 2 || status[0].Generations[0].Role != "stable" {
		t.Fatalf("deploy status --json: exit %d\n%s; want generation 2 alone, stable", code, out)
	}
	// Generation 1's pod goes once its grace ends.
	kubetest.Eventually(t, 2*time.Minute, "generation 1's pod gone from "+ns, func(ctx context.Context) error {
		var pods struct{ Items []struct{} }
		if err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/"+ns+"/pods", "", nil, &pods); err != nil || len(pods.Items) != 1 {
			return fmt.Errorf("%d pods, %v; want generation 2's one", len(pods.Items), err)
		}
		return nil
	})

	if out, stderr, code = slipway(t, dir, "deploy", "remove", "kcli"); code != 0 || !strings.Contains(out, "kcli: removed") {
		t.Fatalf("deploy remove: exit %d\n%s%s", code, out, stderr)
	}
	if err := c.Do(context.Background(), http.MethodGet, "/api/v1/namespaces/"+ns, "", nil, nil); !kubetest.IsNotFound(err) {
		t.Errorf("namespace %s after deploy remove: %v, want not found", ns, err)
	}
	if code, body, _ := proxytest.Get(&http.Client{Timeout: 10 * time.Second}, "http://"+listen+"/", "kcli.kcli.test"); code != 404 {
		t.Errorf("after deploy remove the proxy answers %d %q, want 404 (no route)", code, body)
	}
}

// waitForLog waits until logs holds line.
func waitForLog(t *testing.T, logs *testenv.Buffer, line string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after 60s:\n%s", line, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// usersOf are clients asking host through the proxy at addr until stop,
// counting the answers by "code body" ("error" for none).
type usersOf struct {
	halt   atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[string]int
	n      int
}

func cliLoad(t *testing.T, addr, host string, clients int) *usersOf {
	u := &usersOf{counts: map[string]int{}}
	c := &http.Client{Timeout: 10 * time.Second}
	for range clients {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			for !u.halt.Load() {
				code, body, err := proxytest.Get(c, "http://"+addr+"/", host)
				key := fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
				if err != nil {
					key = "error"
				}
				u.mu.Lock()
				u.counts[key]++
				u.n++
				u.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { u.stop() })
	return u
}

// only tells whether every answer counted is one of keys.
func only(counts map[string]int, keys ...string) bool {
	for k := range counts {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

func (u *usersOf) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *usersOf) snapshot() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	counts := map[string]int{}
	for k, n := range u.counts {
		counts[k] = n
	}
	return counts
}

// waitFor waits until the clients got n more answers.
func (u *usersOf) waitFor(t *testing.T, n int) {
	t.Helper()
	want := u.total() + n
	deadline := time.Now().Add(2 * time.Minute)
	for u.total() < want {
		if time.Now().After(deadline) {
			t.Fatalf("clients got %d answers, want %d", u.total(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (u *usersOf) stop() map[string]int {
	u.halt.Store(true)
	u.wg.Wait()
	return u.snapshot()
}
