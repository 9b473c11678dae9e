//go:build kube

package gitopskube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

const (
	maxPushToReady = 3 * time.Second
	pushes         = 5
	benchToken     = "slipway-bench-gitops-kube-token"
)

// webDeployment is a Deployment whose pod starts in well under a second
// (a local image, no probe, no grace period); rev changes its template, so
// each commit rolls it out.
func webDeployment(rev int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: %s
          imagePullPolicy: Never
          command: [sleep, "3600"]
          env: [{name: REV, value: "%d"}]
`, kubetest.BusyboxImage, rev)
}

// BenchmarkPushToReady runs `slipway serve` with a GitOps deployment of
// one Deployment onto the cluster, whose source polls hourly. Each round
// commits a change of the pod template, pushes it, and calls the server's
// reconcile webhook (POST /api/gitops/bench/reconcile, what a forge's
// push webhook calls); it measures from the call until the server shows
// the deployment Ready at the commit, and until the cluster shows the
// Deployment rolled out (kstatus Current at the new template).
func BenchmarkPushToReady(b *testing.B) {
	cl := connect(b)
	ns := kubetest.Namespace(b, kubetest.Cluster(b))
	bin := buildSlipway(b)
	repo := newOpsRepo(b, map[string]string{"web/deploy.yaml": webDeployment(0)})
	dir := b.TempDir()
	gitopsFile, config := filepath.Join(dir, "slipway-gitops.yaml"), filepath.Join(dir, "slipway.yml")
	if err := os.WriteFile(gitopsFile, []byte(gitopsConfig(repo.bare, "web", ns)), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(config, fmt.Appendf(nil, `api_token_env: SLIPWAY_BENCH_TOKEN
proxy:
  embedded: {listen: %s}
gitops:
  config: %s
`, testenv.FreeAddr(b), gitopsFile), 0o644); err != nil {
		b.Fatal(err)
	}
	srv := serve(b, bin, config)

	var toServer, toCluster []time.Duration
	for i := range pushes + 1 { // the first creates the Deployment: a warm-up
		var sha string
		if i > 0 {
			sha = repo.commit("web/deploy.yaml", webDeployment(i))
		} else {
			sha = testenv.Git(b, repo.bare, "rev-parse", "main")
		}
		start := time.Now()
		srv.reconcile(b, "bench")
		var server, cluster time.Duration
		for deadline := start.Add(time.Minute); server == 0 || cluster == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("push %d: not Ready within a minute (server %s, cluster %s); server log:\n%s", i, server, cluster, srv.stderr.String())
			}
			if server == 0 && srv.readyAt(b, "bench", sha) {
				server = time.Since(start)
			}
			if cluster == 0 && rolledOut(b, cl.Client, ns, i) {
				cluster = time.Since(start)
			}
		}
		if i > 0 {
			toServer, toCluster = append(toServer, server), append(toCluster, cluster)
		}
		b.Logf("%s push %d: webhook -> rolled out on the cluster %4.0f ms, -> Ready in the server %4.0f ms", start.UTC().Format("15:04:05.000"), i, ms(cluster), ms(server))
	}
	s, c := median(toServer), median(toCluster)
	b.ReportMetric(ms(s), "ms-push-to-ready")
	b.ReportMetric(ms(c), "ms-push-to-rolled-out")
	b.Logf("%d pushes: webhook -> Deployment rolled out on the cluster median %.0f ms (max %.0f); -> deployment Ready in the server median %.0f ms (max %.0f); target <= %s",
		pushes, ms(c), ms(slices.Max(toCluster)), ms(s), ms(slices.Max(toServer)), maxPushToReady)
	if s > maxPushToReady {
		b.Errorf("push -> Ready: median %s, target <= %s", s.Round(time.Millisecond), maxPushToReady)
	}
}

// rolledOut tells whether the Deployment runs the template of rev and is
// Current by kstatus (what `kubectl rollout status` waits for).
func rolledOut(b *testing.B, c client.Client, ns string, rev int) bool {
	var d appsv1.Deployment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
		return false
	}
	env := d.Spec.Template.Spec.Containers[0].Env
	if len(env) != 1 || env[0].Value != fmt.Sprint(rev) {
		return false
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&d)
	if err != nil {
		b.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	return err == nil && res.Status == status.CurrentStatus
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *testenv.Buffer
}

// serve starts `slipway serve` (SQLite, shell executor) with config and
// stops it when b ends.
func serve(b *testing.B, bin, config string) *server {
	addr := testenv.FreeAddr(b)
	s := &server{url: "http://" + addr, stderr: &testenv.Buffer{}}
	s.cmd = exec.Command(bin, "serve", "--listen", addr, "--data", b.TempDir(), "--database", storetest.SQLiteURL(b), "--config", config)
	s.cmd.Env = append(os.Environ(), "SLIPWAY_BENCH_TOKEN="+benchToken)
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		if b.Failed() {
			b.Logf("server log:\n%s", s.stderr)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
	}
	b.Fatalf("server did not answer:\n%s", s.stderr)
	return nil
}

// reconcile calls the reconcile webhook of a deployment.
func (s *server) reconcile(b *testing.B, deployment string) {
	req, _ := http.NewRequest(http.MethodPost, s.url+"/api/gitops/"+deployment+"/reconcile", bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("POST reconcile: %s", resp.Status)
	}
}

// readyAt tells whether GET /api/gitops shows the deployment Ready at sha.
func (s *server) readyAt(b *testing.B, deployment, sha string) bool {
	resp, err := http.Get(s.url + "/api/gitops")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Deployments []gitops.DeploymentStatus `json:"deployments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		b.Fatalf("GET /api/gitops: %v", err)
	}
	for _, d := range v.Deployments {
		if d.Name == deployment {
			return d.Condition == gitops.Ready && d.AppliedRevision == sha
		}
	}
	return false
}
