//go:build kube

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// testCluster points slipway run at a fresh namespace of the test cluster.
func testCluster(t *testing.T) (c *kubetest.Client, ns string, flags []string) {
	c = kubetest.Cluster(t)
	ns = kubetest.Namespace(t, c)
	return c, ns, []string{"--kubeconfig", kubetest.Kubeconfig(), "--kube-namespace", ns, "--kube-helper-image", kubetest.HelperImage(t)}
}

// slipwayPods are the names of the Slipway pods in ns.
func slipwayPods(t *testing.T, c *kubetest.Client, ns string) []string {
	t.Helper()
	return c.PodNames(t, ns, "slipway.managed=true")
}

// TestRunAutoPutsImageJobsInPods: with a cluster configured, auto runs
// the job with an image as a pod and the other on the host; artifacts go
// both ways.
func TestRunAutoPutsImageJobsInPods(t *testing.T) {
	c, ns, flags := testCluster(t)
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [one, two]
in-pod:
  stage: one
  image: ` + kubetest.BusyboxImage + `
  script:
    - mkdir -p out && echo "from $(hostname)" > out/a.txt
  artifacts:
    paths: [out/]
on-host:
  stage: two
  script:
    - 'echo "host saw: $(cat out/a.txt)"'
`})
	out, errOut, code := slipway(t, dir, append([]string{"run", "--executor", "auto"}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "host saw: from slipway-") || !strings.Contains(out, "Using Kubernetes namespace "+ns) {
		t.Errorf("the image job did not run in a pod, or its artifacts did not reach the host:\n%s", out)
	}
	if left := slipwayPods(t, c, ns); len(left) > 0 {
		t.Errorf("pods left: %v", left)
	}
}

// TestKilledRunsPodIsDeletedByTheNextRun: `slipway run` killed with kill -9
// mid-job leaves its pod, which the next run deletes.
func TestKilledRunsPodIsDeletedByTheNextRun(t *testing.T) {
	c, ns, flags := testCluster(t)
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
slow:
  image: ` + kubetest.BusyboxImage + `
  script:
    - echo started
    - sleep 600
`})
	cmd := exec.Command(slipwayBin, append([]string{"run", "--executor", "kubernetes"}, flags...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache-test"))
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 3*time.Minute, "the job runs in its pod", func(context.Context) error {
		if !strings.Contains(out.String(), "$ sleep 600") {
			return fmt.Errorf("output so far:\n%s", out.String())
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if left := slipwayPods(t, c, ns); len(left) != 1 {
		t.Fatalf("pods after kill -9: %v, want the job's", left)
	}
	// The next run, of another pipeline, deletes it before its own job.
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("quick:\n  image: "+kubetest.BusyboxImage+"\n  script: [echo quick]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "commit", "-q", "-am", "quick")
	stdout, errOut, code := slipway(t, dir, append([]string{"run", "--executor", "kubernetes"}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errOut)
	}
	kubetest.Eventually(t, time.Minute, "the killed run's pod is deleted", func(context.Context) error {
		if left := slipwayPods(t, c, ns); len(left) > 0 {
			return fmt.Errorf("pods left: %v", left)
		}
		return nil
	})
}
