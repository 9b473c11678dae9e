//go:build kube

package kubeusage_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/env/usage/kubeusage"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// burner is a Deployment of one pod that burns CPU (at most half a core,
// its limit), holds 40 MiB of memory in /dev/shm and pings its node, so its
// CPU, memory and both network counters all grow.
const burner = `apiVersion: apps/v1
kind: Deployment
metadata: {name: burner, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: burn
        image: %[2]s
        imagePullPolicy: Never
        command: [sh, -c, 'head -c 41943040 /dev/zero > /dev/shm/hold && exec dd if=/dev/zero of=/dev/null']
        resources: {limits: {cpu: 500m, memory: 128Mi}}
      - name: ping
        image: %[2]s
        imagePullPolicy: Never
        command: [sh, -c, 'exec ping -s 1000 -i 0.2 10.231.0.1']
        resources: {limits: {cpu: 100m, memory: 16Mi}}
`

// kubeletPod is the part of a pod's entry in the Summary API the test
// reads itself, apart from the package's decoding.
type kubeletPod struct {
	PodRef struct{ Name, Namespace string } `json:"podRef"`
	CPU    struct {
		Time                 time.Time `json:"time"`
		UsageCoreNanoSeconds uint64    `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory struct {
		WorkingSetBytes uint64 `json:"workingSetBytes"`
	} `json:"memory"`
	// Network is nil when the kubelet's cAdvisor does not see the pod's
	// sandbox (scripts/kube.sh's kubelet: containerd on its own socket).
	Network *struct {
		RxBytes uint64 `json:"rxBytes"`
		TxBytes uint64 `json:"txBytes"`
	} `json:"network"`
}

func (p kubeletPod) network() (rx, tx float64) {
	if p.Network == nil {
		return 0, 0
	}
	return float64(p.Network.RxBytes), float64(p.Network.TxBytes)
}

// kubelet reads the kubelet's own figures of the namespace's only pod.
func kubelet(ctx context.Context, c *kubetest.Client, node, ns string) (kubeletPod, error) {
	var s struct{ Pods []kubeletPod }
	if err := c.Do(ctx, http.MethodGet, "/api/v1/nodes/"+node+"/proxy/stats/summary", "", nil, &s); err != nil {
		return kubeletPod{}, err
	}
	for _, p := range s.Pods {
		if p.PodRef.Namespace == ns {
			return p, nil
		}
	}
	return kubeletPod{}, fmt.Errorf("no pod of %s in the summary of %s", ns, node)
}

func TestFiguresMatchTheKubelet(t *testing.T) {
	c := kubetest.Cluster(t)
	ns := kubetest.Namespace(t, c)
	ctx := context.Background()
	if err := c.Apply(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments/burner",
		fmt.Appendf(nil, burner, ns, kubetest.BusyboxImage)); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubetest.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := kubeusage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target := map[string][]usage.PodSet{"shop-review": {{Namespace: ns, Selector: "app=burner"}}}
	var node string
	var held kubeletPod
	kubetest.Eventually(t, 3*time.Minute, "the burner runs and holds its memory", func(ctx context.Context) error {
		var pods struct {
			Items []struct {
				Spec   struct{ NodeName string }
				Status struct{ Phase string }
			}
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/"+ns+"/pods", "", nil, &pods); err != nil {
			return err
		}
		if len(pods.Items) != 1 || pods.Items[0].Status.Phase != "Running" {
			return fmt.Errorf("pods: %+v", pods.Items)
		}
		node = pods.Items[0].Spec.NodeName
		held, err = kubelet(ctx, c, node, ns)
		if err != nil {
			return err
		}
		if held.Memory.WorkingSetBytes < 40<<20 {
			return fmt.Errorf("kubelet: working set %d", held.Memory.WorkingSetBytes)
		}
		return nil
	})

	// Slipway's sample lies between two of the kubelet's own: counters
	// between theirs, memory near theirs.
	before, err := kubelet(ctx, c, node, ns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.PodUsage(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	after, err := kubelet(ctx, c, node, ns)
	if err != nil {
		t.Fatal(err)
	}
	svcs := got["shop-review"].Services
	if len(svcs) != 1 {
		t.Fatalf("services: %+v; want the burner's Deployment", svcs)
	}
	b := svcs[0]
	t.Logf("kubelet before: %+v; slipway: %+v; kubelet after: %+v", before, b, after)
	if b.Service != "burner" || b.State != "running" || b.Health != "healthy" || !b.Up() {
		t.Errorf("burner: service %q, state %s, health %s; want burner, running, healthy", b.Service, b.State, b.Health)
	}
	between := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: slipway %.0f, kubelet %.0f then %.0f", what, got, lo, hi)
		}
	}
	between("CPU ns", b.CPUSeconds*1e9, float64(before.CPU.UsageCoreNanoSeconds)-1e3, float64(after.CPU.UsageCoreNanoSeconds)+1e3)
	// Without the kubelet's network figures Slipway shows none either.
	rx0, tx0 := before.network()
	rx1, tx1 := after.network()
	between("network rx", float64(b.NetworkRxBytes), rx0, rx1)
	between("network tx", float64(b.NetworkTxBytes), tx0, tx1)
	lo := float64(min(before.Memory.WorkingSetBytes, after.Memory.WorkingSetBytes))
	hi := float64(max(before.Memory.WorkingSetBytes, after.Memory.WorkingSetBytes))
	between("memory", float64(b.MemoryBytes), lo*0.95, hi*1.05)
	if b.MemoryLimitBytes != 144<<20 {
		t.Errorf("memory limit %d; want the containers' 128Mi + 16Mi", b.MemoryLimitBytes)
	}

	// Through the sampler: a CPU rate as the kubelet's counters give it
	// over the same stretch (its windows hold Slipway's), a history point
	// and the Prometheus series of an environment.
	s := &usage.Sampler{Targets: func(context.Context) ([]usage.Target, error) {
		return []usage.Target{{Key: "shop-review", Project: "shop", Environment: "review/a", Cluster: r, Pods: target["shop-review"]}}, nil
	}}
	k1, _ := kubelet(ctx, c, node, ns)
	s.Pass(ctx)
	first, _ := s.Get("shop-review")
	if len(first.Services) != 1 || first.Services[0].Read.IsZero() {
		t.Fatalf("first pass: %+v", first)
	}
	// The kubelet refreshes its figures every few seconds: a rate over
	// ten seconds of them at least.
	kubetest.Eventually(t, time.Minute, "the kubelet's figures move on", func(ctx context.Context) error {
		k, err := kubelet(ctx, c, node, ns)
		if err != nil {
			return err
		}
		if k.CPU.Time.Sub(first.Services[0].Read) < 10*time.Second {
			return fmt.Errorf("kubelet's stats of %s", k.CPU.Time)
		}
		return nil
	})
	s.Pass(ctx)
	k2, _ := kubelet(ctx, c, node, ns)
	second, _ := s.Get("shop-review")
	svc := second.Services[0]
	kubeletRate := float64(k2.CPU.UsageCoreNanoSeconds-k1.CPU.UsageCoreNanoSeconds) / 1e7 / k2.CPU.Time.Sub(k1.CPU.Time).Seconds()
	t.Logf("CPU: slipway %.1f%%, kubelet %.1f%% (%s to %s)", svc.CPUPercent, kubeletRate, k1.CPU.Time, k2.CPU.Time)
	if svc.CPUPercent <= 1 || svc.CPUPercent > 60 {
		t.Errorf("CPU %.1f%%: want the burner's, above 1%% and within its limit of 50%%", svc.CPUPercent)
	}
	if math.Abs(svc.CPUPercent-kubeletRate) > 5+0.2*kubeletRate {
		t.Errorf("CPU: slipway %.1f%%, kubelet %.1f%% over the same stretch", svc.CPUPercent, kubeletRate)
	}
	if len(svc.History) != 1 || svc.History[0].MemoryBytes < 40<<20 {
		t.Errorf("history: %+v; want one point of the burner's memory", svc.History)
	}
	if k2.Network != nil && (svc.NetworkTxPerSec <= 0 || svc.NetworkRxPerSec <= 0) {
		t.Errorf("network rates %.0f/%.0f B/s; want both above 0: it pings", svc.NetworkRxPerSec, svc.NetworkTxPerSec)
	}
	want := fmt.Sprintf(`
# HELP slipway_environment_memory_limit_bytes Memory limit of a service's container (or pods) (the host's memory without one).
# TYPE slipway_environment_memory_limit_bytes gauge
slipway_environment_memory_limit_bytes{environment="review/a",project="shop",service="burner"} %d
`, 144<<20)
	if err := testutil.CollectAndCompare(s.Collector(), strings.NewReader(want), "slipway_environment_memory_limit_bytes"); err != nil {
		t.Error(err)
	}
}
