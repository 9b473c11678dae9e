//go:build kube

package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// TestServerKilledMidKubernetesJob: a project whose executor is auto runs
// its image job as a pod on a server whose own executor is the shell; a
// server killed with kill -9 while that job runs deletes its pod when it
// starts again, and the job is failed with the restart as its reason.
func TestServerKilledMidKubernetesJob(t *testing.T) {
	c := kubetest.Cluster(t)
	ns := kubetest.Namespace(t, c)
	config := filepath.Join(t.TempDir(), "slipway.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`executor: shell
kubernetes:
  kubeconfig: %s
  namespace: %s
  helper_image: %s
`, kubetest.Kubeconfig(), ns, kubetest.HelperImage(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": `
slow:
  image: ` + kubetest.BusyboxImage + `
  script:
    - echo "started in $(hostname)"
    - sleep 300
`})
	db, data := storetest.SQLiteURL(t), t.TempDir()
	s := startServer(t, db, data, config)
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "executor": "pods"}, nil); code != 400 {
		t.Errorf("a project with executor pods: %d, want 400", code)
	}
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "executor": "auto"}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	var p pipeline
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p); code != 201 {
		t.Fatalf("run: %d", code)
	}
	s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("slow").Status == "running" })
	slowID := p.job("slow").ID
	kubetest.Eventually(t, 3*time.Minute, "the job runs in its pod", func(context.Context) error {
		if log := s.text(fmt.Sprintf("/api/jobs/%d/log", slowID)); !strings.Contains(log, "started in slipway-") || !strings.Contains(log, "Using Kubernetes namespace "+ns) {
			return fmt.Errorf("log so far:\n%s", log)
		}
		return nil
	})
	if n := len(jobPods(t, c, ns)); n != 1 {
		t.Fatalf("%d pods of the job, want 1", n)
	}
	s.kill()

	s2 := startServer(t, db, data, config)
	p = s2.waitPipeline(p.ID, finished)
	if slow := p.job("slow"); slow.Status != "failed" || slow.FailureReason != "runner_system_failure" || !strings.Contains(slow.Error, "server stopped") {
		t.Errorf("slow = %+v, want failed with the restart as reason", slow)
	}
	kubetest.Eventually(t, time.Minute, "the killed server's pod is deleted", func(context.Context) error {
		if left := jobPods(t, c, ns); len(left) > 0 {
			return fmt.Errorf("pods left: %v", left)
		}
		return nil
	})
}

// jobPods are the names of the Slipway pods in ns.
func jobPods(t *testing.T, c *kubetest.Client, ns string) []string {
	t.Helper()
	return c.PodNames(t, ns, "slipway.managed=true")
}
