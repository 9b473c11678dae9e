//go:build kube

package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// kubeBurner is a Deployment of two pods burning a little CPU each under
// a 48 MiB limit: its figures are the two pods' sums.
const kubeBurner = `apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 2
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: burn
        image: %s
        imagePullPolicy: Never
        command: [sh, -c, 'exec dd if=/dev/zero of=/dev/null']
        resources: {limits: {cpu: 100m, memory: 48Mi}}
`

// TestGitopsKubernetesUsage: a GitOps deployment onto the real cluster
// shows its Deployment's pods' CPU and memory, summed over its two
// replicas, in GET /api/gitops/DEPLOYMENT/usage and on /metrics.
func TestGitopsKubernetesUsage(t *testing.T) {
	c := kubetest.Cluster(t)
	ns := kubetest.Namespace(t, c)
	work := testenv.GitRepo(t, map[string]string{"manifests/burner.yaml": fmt.Sprintf(kubeBurner, kubetest.BusyboxImage)})
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	os.WriteFile(file, fmt.Appendf(nil, `sources: [{name: ops, url: %s, interval: 1h}]
deployments:
  - name: onkube
    source: ops
    path: manifests
    interval: 1h
    kubernetes: {kubeconfig: %s, namespace: %s, timeout: 3m}
`, work, kubetest.Kubeconfig(), ns), 0o644)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	s := uiServer(t, "", func(c *Config) {
		c.Gitops.Config = file
		c.Environments.UsageInterval = 300 * time.Millisecond
		c.Proxy.Embedded.Listen = testenv.FreeAddr(t)
		c.Proxy.Embedded.StorageDir = t.TempDir()
	})

	var u struct {
		Target string `json:"target"`
		Apps   []struct {
			Deployment string            `json:"deployment"`
			Services   []apiServiceUsage `json:"services"`
		} `json:"apps"`
	}
	var b apiServiceUsage
	deadline := time.Now().Add(4 * time.Minute)
	for {
		code, body := uiGet(t, s, "/api/gitops/onkube/usage")
		if code != 200 || json.Unmarshal([]byte(body), &u) != nil {
			t.Fatalf("GET /api/gitops/onkube/usage: %d %s", code, body)
		}
		if len(u.Apps) == 1 && len(u.Apps[0].Services) == 1 {
			b = u.Apps[0].Services[0]
			if b.CPUPercent > 0 && b.MemoryBytes > 0 && len(b.History) >= 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			_, status := uiGet(t, s, "/api/gitops")
			t.Fatalf("the burner's figures never came: %s\nGET /api/gitops: %s", body, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if u.Target != gitops.TargetKubernetes || u.Apps[0].Deployment != "onkube" {
		t.Errorf("usage: %+v", u)
	}
	if b.Service != "burner" || !b.Up || b.State != "running" || b.MemoryLimitBytes != 2*48<<20 {
		t.Errorf("burner: %+v; want the Deployment, up, with its two pods' 48 MiB limits", b)
	}
	// Two pods at most 10% of a core each (their limit), on a loaded
	// machine a little above at the edges of the kubelet's windows.
	if b.CPUPercent > 30 {
		t.Errorf("burner's CPU %.1f%%: above its two pods' limits", b.CPUPercent)
	}
	series := `{app="",deployment="onkube",service="burner"}`
	if m := metricsText(t, s); !strings.Contains(m, "slipway_gitops_app_cpu_seconds_total"+series) ||
		!strings.Contains(m, "slipway_gitops_app_memory_limit_bytes"+series+" 1.00663296e+08") {
		t.Errorf("/metrics:\n%s", grepLines(m, "slipway_gitops_app_"))
	}
}
