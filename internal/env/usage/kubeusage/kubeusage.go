// Package kubeusage reads the resource use of pods on a Kubernetes
// cluster for the usage sampler: CPU, memory and network from each node
// kubelet's Summary API, reached through the API server
// (/api/v1/nodes/NODE/proxy/stats/summary, what metrics-server reads), and
// from metrics.k8s.io when the Summary API is refused (nodes/proxy is a
// strong permission that many service accounts lack) and that API is
// served.
//
// A service's figures are its pods' sums, so a Deployment of three
// replicas reads as one service, as one container does on a Docker host.
package kubeusage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metrics "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/usage"
)

// Reader reads pods' usage on one cluster; it is a usage.PodReader.
type Reader struct {
	Client kubernetes.Interface
	// Metrics is the metrics.k8s.io client, used for the nodes whose
	// Summary API is refused; nil never uses it.
	Metrics metrics.Interface

	mu sync.Mutex
	// cpu integrates metrics.k8s.io's CPU rates into CPU seconds, by pod
	// UID, as the Summary API counts them.
	cpu map[string]cpuIntegral
}

type cpuIntegral struct {
	at      time.Time
	seconds float64
}

// New connects a Reader to the cluster of cfg.
func New(cfg *rest.Config) (*Reader, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	m, err := metrics.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics.k8s.io client: %w", err)
	}
	return &Reader{Client: c, Metrics: m}, nil
}

// PodUsage reads the pods of each target and sums their figures per
// service. A target without a pod has no services.
func (r *Reader) PodUsage(ctx context.Context, targets map[string][]usage.PodSet) (map[string]dockerhost.Usage, error) {
	lists := map[usage.PodSet][]corev1.Pod{} // one listing per namespace and selector
	nodes := map[string]bool{}
	for _, sets := range targets {
		for _, set := range sets {
			key := usage.PodSet{Namespace: set.Namespace, Selector: set.Selector}
			if _, ok := lists[key]; ok {
				continue
			}
			list, err := r.Client.CoreV1().Pods(set.Namespace).List(ctx, metav1.ListOptions{LabelSelector: set.Selector})
			if err != nil {
				return nil, fmt.Errorf("pods of %s in %s: %w", set.Selector, set.Namespace, err)
			}
			lists[key] = list.Items
			for _, p := range list.Items {
				if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning {
					nodes[p.Spec.NodeName] = true
				}
			}
		}
	}
	found, err := r.stats(ctx, nodes, lists)
	if err != nil {
		return nil, err
	}
	out := map[string]dockerhost.Usage{}
	for key, sets := range targets {
		services := map[string][]corev1.Pod{}
		seen := map[string]bool{}
		for _, set := range sets {
			for _, p := range lists[usage.PodSet{Namespace: set.Namespace, Selector: set.Selector}] {
				if seen[string(p.UID)] {
					continue // selected twice: counted once
				}
				seen[string(p.UID)] = true
				name := set.Service
				if name == "" && set.ServiceLabel != "" {
					name = p.Labels[set.ServiceLabel]
				}
				name = cmp.Or(name, workload(p))
				services[name] = append(services[name], p)
			}
		}
		u := dockerhost.Usage{Env: key, Services: []dockerhost.ServiceUsage{}}
		for name, pods := range services {
			u.Services = append(u.Services, sum(name, pods, found))
		}
		slices.SortFunc(u.Services, func(a, b dockerhost.ServiceUsage) int { return cmp.Compare(a.Service, b.Service) })
		out[key] = u
	}
	return out, nil
}

// podStats are one pod's figures, by pod UID, with the memory of its
// node for pods without a limit.
type podStats struct {
	read       time.Time
	cpuSeconds float64
	memory     uint64
	nodeMemory uint64
	rx, tx     uint64
	hasFigures bool
}

// stats reads the Summary API of each node, and metrics.k8s.io for the
// pods of nodes whose Summary API is refused.
func (r *Reader) stats(ctx context.Context, nodes map[string]bool, lists map[usage.PodSet][]corev1.Pod) (map[string]podStats, error) {
	out := map[string]podStats{}
	refused := map[string]error{}
	for node := range nodes {
		s, err := r.summary(ctx, node)
		if err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsNotFound(err) {
				refused[node] = err
				continue
			}
			return nil, fmt.Errorf("node %s: summary: %w", node, err)
		}
		nodeMemory := memoryOfNode(s.Node)
		for _, p := range s.Pods {
			out[p.PodRef.UID] = fromSummary(p, nodeMemory)
		}
	}
	if len(refused) == 0 {
		return out, nil
	}
	if r.Metrics == nil || !r.metricsServed() {
		for node, err := range refused {
			return nil, fmt.Errorf("node %s: the kubelet's Summary API is refused (%s; reading it needs get on nodes/proxy) and metrics.k8s.io is not served: %w",
				node, apierrors.ReasonForError(err), err)
		}
	}
	namespaces := map[string]bool{}
	for set, pods := range lists {
		for _, p := range pods {
			if refused[p.Spec.NodeName] != nil {
				namespaces[set.Namespace] = true
			}
		}
	}
	for ns := range namespaces {
		list, err := r.Metrics.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("metrics.k8s.io pods of %s: %w", ns, err)
		}
		for _, pm := range list.Items {
			uid := r.uidOf(lists, ns, pm.Name)
			if uid != "" {
				out[uid] = r.fromMetrics(uid, pm)
			}
		}
	}
	r.forget(time.Now().Add(-time.Hour))
	return out, nil
}

// forget drops the CPU integrals of pods not seen since before: pods
// that are gone.
func (r *Reader) forget(before time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, c := range r.cpu {
		if c.at.Before(before) {
			delete(r.cpu, uid)
		}
	}
}

// summary reads a node's Summary API through the API server's node proxy.
func (r *Reader) summary(ctx context.Context, node string) (*stats.Summary, error) {
	raw, err := r.Client.CoreV1().RESTClient().Get().Resource("nodes").Name(node).
		SubResource("proxy").Suffix("stats", "summary").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var s stats.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return &s, nil
}

// metricsServed tells whether the API server serves metrics.k8s.io/v1beta1
// (metrics-server or another adapter is installed).
func (r *Reader) metricsServed() bool {
	_, err := r.Client.Discovery().ServerResourcesForGroupVersion(metricsv1beta1.SchemeGroupVersion.String())
	return err == nil
}

func memoryOfNode(n stats.NodeStats) uint64 {
	if m := n.Memory; m != nil && m.AvailableBytes != nil && m.WorkingSetBytes != nil {
		return *m.AvailableBytes + *m.WorkingSetBytes
	}
	return 0
}

// fromSummary takes the pod's own cgroup figures: CPU seconds since the
// pod started (a container's restart does not reset them), the working
// set (what the kubelet evicts by and `kubectl top` shows: usage less
// inactive page cache, as `docker stats`), and the bytes of its network
// namespace's interfaces.
func fromSummary(p stats.PodStats, nodeMemory uint64) podStats {
	s := podStats{nodeMemory: nodeMemory}
	if c := p.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
		s.read, s.hasFigures = c.Time.Time, true
		s.cpuSeconds = float64(*c.UsageCoreNanoSeconds) / 1e9
	}
	if m := p.Memory; m != nil && m.WorkingSetBytes != nil {
		s.memory, s.hasFigures = *m.WorkingSetBytes, true
	}
	if n := p.Network; n != nil {
		ifaces := n.Interfaces
		if len(ifaces) == 0 {
			ifaces = []stats.InterfaceStats{n.InterfaceStats}
		}
		for _, i := range ifaces {
			if i.RxBytes != nil && i.TxBytes != nil {
				s.rx += *i.RxBytes
				s.tx += *i.TxBytes
			}
		}
	}
	return s
}

// fromMetrics turns metrics.k8s.io's rate of CPU into CPU seconds by
// adding it up over the time between the reader's samples, so that the
// sampler's rates and the Prometheus counter mean the same on both paths.
// The API has no network figures.
func (r *Reader) fromMetrics(uid string, pm metricsv1beta1.PodMetrics) podStats {
	s := podStats{read: pm.Timestamp.Time, hasFigures: true}
	var cores float64
	for _, c := range pm.Containers {
		cores += c.Usage.Cpu().AsApproximateFloat64()
		s.memory += uint64(max(c.Usage.Memory().Value(), 0))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cpu == nil {
		r.cpu = map[string]cpuIntegral{}
	}
	prev, ok := r.cpu[uid]
	next := cpuIntegral{at: s.read}
	if ok {
		next.seconds = prev.seconds
		if s.read.After(prev.at) {
			next.seconds += cores * s.read.Sub(prev.at).Seconds()
		} else {
			next.at = prev.at
		}
	}
	r.cpu[uid] = next
	s.cpuSeconds = next.seconds
	return s
}

func (r *Reader) uidOf(lists map[usage.PodSet][]corev1.Pod, ns, name string) string {
	for set, pods := range lists {
		if set.Namespace != ns {
			continue
		}
		for _, p := range pods {
			if p.Name == name {
				return string(p.UID)
			}
		}
	}
	return ""
}

// workload is the name of what owns the pod: its Deployment (the
// ReplicaSet's name less the pod template hash), StatefulSet, DaemonSet,
// Job; the pod's own name when nothing owns it.
func workload(p corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if h := p.Labels["pod-template-hash"]; o.Kind == "ReplicaSet" && h != "" {
			return strings.TrimSuffix(o.Name, "-"+h)
		}
		return o.Name
	}
	return p.Name
}

// sum is one service's figures over its pods. The service runs when all
// its pods run, and is healthy when all are Ready. Its figures are those of
// the pods that have some (a pending pod has none yet); its run is the set
// of those pods (Container) and the last start, so that a pod replaced,
// added or gone starts a new run, whose first rates are not computed from
// other pods' counters.
func sum(name string, pods []corev1.Pod, found map[string]podStats) dockerhost.ServiceUsage {
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	u := dockerhost.ServiceUsage{Service: name, State: "running", Health: "healthy"}
	var measured []string
	for _, p := range pods {
		if p.Status.StartTime != nil && p.Status.StartTime.After(u.StartedAt) {
			u.StartedAt = p.Status.StartTime.Time
		}
		for _, c := range p.Status.ContainerStatuses {
			u.RestartCount += int(c.RestartCount)
			if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
				u.ExitCode = int(t.ExitCode)
			}
		}
		if p.Status.Phase != corev1.PodRunning {
			u.State = strings.ToLower(string(p.Status.Phase))
		}
		if !ready(p) && u.Health == "healthy" {
			u.Health = "unhealthy"
		}
		if p.DeletionTimestamp != nil && u.State == "running" {
			u.State = "terminating"
		}
		s, ok := found[string(p.UID)]
		if !ok || !s.hasFigures {
			continue
		}
		measured = append(measured, p.Name)
		if s.read.After(u.Read) {
			u.Read = s.read
		}
		u.CPUSeconds += s.cpuSeconds
		u.MemoryBytes += s.memory
		u.NetworkRxBytes += s.rx
		u.NetworkTxBytes += s.tx
		u.MemoryLimitBytes += limitOf(p, s.nodeMemory)
	}
	u.Container = strings.Join(measured, ",")
	return u
}

// ready is the pod's Ready condition.
func ready(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// limitOf is the memory a pod may use: its containers' limits, or its
// node's memory when one container has none.
func limitOf(p corev1.Pod, nodeMemory uint64) uint64 {
	var total uint64
	for _, c := range p.Spec.Containers {
		l, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || l.Value() <= 0 {
			return nodeMemory
		}
		total += uint64(l.Value())
	}
	return total
}
