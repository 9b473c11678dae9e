package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// busyApp is a GitOps app with a service burning CPU under a 32 MiB limit
// and an idle one.
const busyApp = `services:
  burner:
    image: %[1]s
    command: ["sh", "-c", "while :; do :; done"]
    mem_limit: 32m
  idle:
    image: %[1]s
    command: ["sleep", "3600"]
`

// TestGitopsAppUsageAPIMetricsAndPage: a Docker-host GitOps app's services
// show their CPU and memory, with a history, in GET
// /api/gitops/DEPLOYMENT/usage and GET /api/gitops, on /metrics under the
// deployment and app, and on the GitOps page, as an environment's do.
func TestGitopsAppUsageAPIMetricsAndPage(t *testing.T) {
	cli := testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	dep := fmt.Sprintf("u%x", time.Now().UnixNano()&0xffffff) // the engine is shared with other tests
	work := testenv.GitRepo(t, map[string]string{"README": "no app yet\n"})
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	os.WriteFile(file, fmt.Appendf(nil, "sources: [{name: ops, url: %s, interval: 1h}]\ndeployments: [{name: %s, source: ops, path: apps, interval: 1h}]\n", work, dep), 0o644)
	var s *Server
	// Registered first, so it runs once the server is closed and can no
	// longer deploy the app again.
	t.Cleanup(func() {
		if s != nil {
			if err := s.deployer.Teardown(context.Background(), dep+"-busy"); err != nil {
				t.Error(err)
			}
		}
	})
	proxyAddr := testenv.FreeAddr(t)
	s = uiServer(t, "", func(c *Config) {
		c.Gitops.Config = file
		c.Environments.Ports = "38040-38999"
		c.Environments.UsageInterval = 300 * time.Millisecond
		c.Proxy.Embedded.Listen = proxyAddr
		c.Proxy.Embedded.StorageDir = t.TempDir()
	})
	// GitOps pulls its images: the app's comes from the server's registry.
	image := s.Addr() + "/ops/busybox:1"
	testenv.PushImage(t, cli, testenv.BusyboxImage(t, cli), image)
	os.MkdirAll(filepath.Join(work, "apps", "busy"), 0o755)
	os.WriteFile(filepath.Join(work, "apps", "busy", "compose.yaml"), fmt.Appendf(nil, busyApp, image), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "the busy app")
	if err := s.requestReconcile(dep); err != nil {
		t.Fatal(err)
	}

	type report struct {
		Deployment string            `json:"deployment"`
		App        string            `json:"app"`
		SampledAt  time.Time         `json:"sampled_at"`
		Services   []apiServiceUsage `json:"services"`
	}
	var u struct {
		Deployment      string   `json:"deployment"`
		Target          string   `json:"target"`
		IntervalSeconds float64  `json:"interval_seconds"`
		Apps            []report `json:"apps"`
	}
	var burner apiServiceUsage
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body := uiGet(t, s, "/api/gitops/"+dep+"/usage")
		if code != 200 || json.Unmarshal([]byte(body), &u) != nil {
			t.Fatalf("GET /api/gitops/%s/usage: %d %s", dep, code, body)
		}
		if len(u.Apps) == 1 && len(u.Apps[0].Services) == 2 {
			burner = u.Apps[0].Services[0]
			if burner.CPUPercent > 0 && len(burner.History) >= 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			_, status := uiGet(t, s, "/api/gitops")
			t.Fatalf("the app's burner never showed its CPU with a history: %s\nGET /api/gitops: %s", body, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a := u.Apps[0]
	if u.Deployment != dep || u.Target != gitops.TargetDocker || u.IntervalSeconds != 0.3 || a.Deployment != dep || a.App != "busy" {
		t.Errorf("usage of %s: %+v", dep, u)
	}
	if burner.Service != "burner" || !burner.Up || burner.MemoryBytes == 0 || burner.MemoryLimitBytes != 32<<20 || burner.CPUSeconds <= 0 {
		t.Errorf("burner: %+v; want up, memory in use, its 32 MiB limit, CPU seconds", burner)
	}
	if idle := a.Services[1]; idle.Service != "idle" || !idle.Up {
		t.Errorf("idle: %+v", idle)
	}
	if code, _ := uiGet(t, s, "/api/gitops/nope/usage"); code != 404 {
		t.Errorf("usage of an unknown deployment: %d, want 404", code)
	}

	// GET /api/gitops carries it with the deployment's status.
	_, body := uiGet(t, s, "/api/gitops")
	var v struct {
		Deployments []struct {
			Name  string   `json:"name"`
			Usage []report `json:"usage"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Deployments) != 1 || len(v.Deployments[0].Usage) != 1 ||
		len(v.Deployments[0].Usage[0].Services) != 2 {
		t.Errorf("GET /api/gitops: %v %s", err, body)
	}

	// Prometheus: the same series as an environment's, by deployment and app.
	series := fmt.Sprintf(`{app="busy",deployment=%q,service="burner"}`, dep)
	m := metricsText(t, s)
	for _, name := range []string{"slipway_gitops_app_cpu_seconds_total", "slipway_gitops_app_memory_bytes",
		"slipway_gitops_app_network_receive_bytes_total", "slipway_gitops_app_network_transmit_bytes_total"} {
		if !strings.Contains(m, name+series+" ") {
			t.Errorf("/metrics lacks %s%s", name, series)
		}
	}
	if !strings.Contains(m, "slipway_gitops_app_up"+series+" 1") || !strings.Contains(m, "slipway_gitops_app_memory_limit_bytes"+series+" 3.3554432e+07") {
		t.Errorf("/metrics: burner not up or without its limit:\n%s", grepLines(m, "slipway_gitops_app_"))
	}

	// The GitOps page: the app's services with their lines.
	_, page := uiGet(t, s, "/gitops")
	for _, want := range []string{`<h3>Resource use</h3>`, `data-app="busy"><th colspan="8">busy</th>`, `<tr data-service="burner">`,
		`class="spark spark-cpu"`, `of 32.0 MiB`} {
		if !strings.Contains(page, want) {
			t.Errorf("the GitOps page lacks %s", want)
		}
	}
}
