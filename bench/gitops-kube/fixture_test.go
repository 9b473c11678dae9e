//go:build kube

// Package gitopskube measures GitOps onto the real test cluster
// (scripts/kube.sh): push to Ready through the server's reconcile webhook,
// a no-change pass over 1,000 objects (and that it writes nothing), and
// the controller's memory at 1,000 objects. Run it with
// bench/gitops-kube/run.sh.
package gitopskube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// buildSlipway builds this checkout's slipway into a temporary folder.
func buildSlipway(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "slipway")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/slipway").CombinedOutput(); err != nil {
		b.Fatalf("building slipway: %v\n%s", err, out)
	}
	return bin
}

// opsRepo is a bare repository of desired state and a clone to commit in.
type opsRepo struct {
	b          *testing.B
	work, bare string
}

func newOpsRepo(b *testing.B, files map[string]string) *opsRepo {
	work, bare := testenv.GitRemote(b, files)
	return &opsRepo{b: b, work: work, bare: bare}
}

// commit writes a file, commits and pushes it, and returns the new head.
func (g *opsRepo) commit(file, content string) string {
	g.b.Helper()
	if err := os.WriteFile(filepath.Join(g.work, file), []byte(content), 0o644); err != nil {
		g.b.Fatal(err)
	}
	testenv.Git(g.b, g.work, "commit", "-q", "-am", "change "+file)
	testenv.Git(g.b, g.work, "push", "-q", "origin", "main")
	return testenv.Git(g.b, g.bare, "rev-parse", "main")
}

// gitopsConfig is a one-deployment config onto namespace ns of the test
// cluster; the hourly intervals leave every pass to the benchmark.
func gitopsConfig(bare, path, ns string) string {
	return fmt.Sprintf(`sources:
  - {name: ops, url: %s, branch: main, interval: 1h}
deployments:
  - name: bench
    source: ops
    path: %s
    interval: 1h
    kubernetes:
      kubeconfig: %s
      namespace: %s
      timeout: 3m
`, bare, path, kubetest.Kubeconfig(), ns)
}

// connect is a client-go connection to the test cluster, to look at it as
// a user would.
func connect(b *testing.B) *kube.Cluster {
	b.Helper()
	kubetest.Cluster(b)
	cl, err := kube.Connect(kube.Target{Kubeconfig: kubetest.Kubeconfig()})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// writes reads the API server's apiserver_request_total and returns the
// requests that create or change objects of group (POST, PUT, PATCH,
// APPLY; dry runs apart) by verb and code, the dry runs by verb and the
// deletes by verb and code. The group is the benchmark's own, so no other
// client creates or changes its objects.
func writes(b *testing.B, cl *kube.Cluster, group string) (real, dry, deletes map[string]float64) {
	b.Helper()
	hc, err := rest.HTTPClientFor(cl.Config)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(cl.Config.Host, "/") + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	real, dry, deletes = map[string]float64{}, map[string]float64{}, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `group="`+group+`"`) {
			continue
		}
		labels, value, _ := strings.Cut(strings.TrimPrefix(line, "apiserver_request_total{"), "} ")
		l := parseLabels(labels)
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		if strings.HasPrefix(l["verb"], "DELETE") {
			deletes[l["verb"]+" "+l["code"]] += v
		} else if l["dry_run"] != "" {
			dry[l["verb"]] += v
		} else {
			real[l["verb"]+" "+l["code"]] += v
		}
	}
	return real, dry, deletes
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// delta is after minus before, without the zeros.
func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// versions are the resourceVersion of every object of gvk in ns, by name.
func versions(b *testing.B, cl *kube.Cluster, gvk schema.GroupVersionKind, ns string) map[string]string {
	b.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := cl.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range list.Items {
		out[o.GetName()] = o.GetResourceVersion()
	}
	return out
}

// median of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
