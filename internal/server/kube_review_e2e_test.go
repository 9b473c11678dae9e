//go:build kube

package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// TestReviewEnvironmentOnKubernetesTornDownToNothing: a server whose
// environments.target is kubernetes deploys a branch's review environment
// from its pipeline's deploy job into a namespace of its own on the
// cluster, serves it through its embedded proxy by hostname, and a stop
// leaves no namespace and no route.
func TestReviewEnvironmentOnKubernetesTornDownToNothing(t *testing.T) {
	c := kubetest.Cluster(t)
	t.Setenv("PATH", filepath.Dir(slipwayBin)+":"+os.Getenv("PATH"))
	proxyAddr := testenv.FreeAddr(t)
	prefix := "t" + strings.ToLower(rand.Text()[:8]) + "-"
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte(fmt.Sprintf(`
proxy:
  embedded: {listen: %s}
  domain: review.example.com
environments:
  enabled: true
  auto_stop_tick: 500ms
  usage_interval: 500ms
  target: kubernetes
  kubernetes: {kubeconfig: %s, namespace_prefix: %s}
`, proxyAddr, kubetest.Kubeconfig(), prefix)), 0o644)
	repo, _ := gitRepo(t, map[string]string{
		".gitlab-ci.yml": `
deploy_review:
  script:
    - slipway env deploy --compose compose.yaml
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    on_stop: stop_review
stop_review:
  script:
    - slipway env stop
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
  when: manual
`,
		"compose.yaml": `
services:
  web:
    image: ` + kubetest.BusyboxImage + `
    command: [-c, 'mkdir -p /www && echo "hello $$CI_COMMIT_REF_NAME" > /www/index.html && exec httpd -f -p 8080 -h /www']
    x-slipway: {expose: true, main: true, port: 8080, health: /index.html}
`})
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	namespaces := func() []string {
		var list struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		if err := c.Do(context.Background(), http.MethodGet, "/api/v1/namespaces", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range list.Items {
			if strings.HasPrefix(n.Metadata.Name, prefix) {
				out = append(out, n.Metadata.Name)
			}
		}
		return out
	}
	t.Cleanup(func() {
		for _, ns := range namespaces() {
			c.Do(context.Background(), http.MethodDelete, "/api/v1/namespaces/"+ns, "", nil, nil)
		}
	})

	var p pipeline
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "feature/login"}, &p); code != 201 {
		t.Fatalf("run: %d", code)
	}
	p = s.waitPipeline(p.ID, func(p pipeline) bool {
		return finished(p) || p.job("deploy_review").Status == "success" || p.job("deploy_review").Status == "failed"
	})
	if p.job("deploy_review").Status != "success" {
		t.Fatalf("deploy failed:\n%s", s.jobReport(p.ID, "deploy_review"))
	}
	e := s.environment("review/feature-login")
	if e.State != "available" {
		t.Fatalf("environment %+v, want available", e)
	}
	if ns := namespaces(); len(ns) != 1 {
		t.Fatalf("namespaces %v, want the environment's own", ns)
	}
	if code, body, err := viaProxy(proxyAddr, e.host(""), "/"); err != nil || code != 200 || strings.TrimSpace(body) != "hello feature/login" {
		t.Fatalf("GET %s through the proxy: %d %q %v", e.host(""), code, body, err)
	}

	// Its figures come from the kubelet, under the Compose service's name.
	kubetest.Eventually(t, 90*time.Second, "usage of the web service", func(context.Context) error {
		out, err := s.cli("env", "usage", "shop", e.Name, "--json").CombinedOutput()
		if err != nil {
			return fmt.Errorf("slipway env usage: %v\n%s", err, out)
		}
		var u struct {
			Services []struct {
				Service     string `json:"service"`
				MemoryBytes uint64 `json:"memory_bytes"`
			} `json:"services"`
		}
		if err := json.Unmarshal(out, &u); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if len(u.Services) != 1 || u.Services[0].Service != "web" || u.Services[0].MemoryBytes == 0 {
			return fmt.Errorf("services %+v, want web using memory", u.Services)
		}
		return nil
	})

	if code := s.do("POST", fmt.Sprintf("/api/environments/%d/stop", e.ID), nil, nil); code >= 300 {
		t.Fatalf("stop: %d", code)
	}
	if st := s.waitEnvironment(e.Name, "stopped", "stop_failed"); st != "stopped" {
		t.Fatalf("environment %s after the stop, want stopped\n%s", st, s.jobReport(p.ID, "stop_review"))
	}
	if ns := namespaces(); len(ns) != 0 {
		t.Errorf("namespaces left after the stop: %v", ns)
	}
	kubetest.Eventually(t, 30*time.Second, "no route left", func(context.Context) error {
		if code, _, _ := viaProxy(proxyAddr, e.host(""), "/"); code != http.StatusNotFound {
			return fmt.Errorf("GET %s: %d, want the proxy's 404", e.host(""), code)
		}
		return nil
	})
}
