package usage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/usage"
)

// engine stands in for the Docker host: each read, every running service
// has used one more CPU second and received 1000 more bytes per second
// since the last.
type engine struct {
	start   time.Time
	reads   int
	down    bool
	failing bool
	// stale answers the last figures again, as a kubelet does between
	// its refreshes.
	stale bool
}

func (e *engine) UsageOf(ctx context.Context, envs []string) (map[string]dockerhost.Usage, error) {
	if e.failing {
		return nil, errors.New("engine busy")
	}
	if !e.stale {
		e.reads++
	}
	out := map[string]dockerhost.Usage{}
	for _, env := range envs {
		if env == "gone" {
			continue
		}
		read := e.start.Add(time.Duration(e.reads) * time.Second)
		web := dockerhost.ServiceUsage{Service: "web", Container: env + "-web-1", State: "running", Health: "none",
			StartedAt: e.start, Read: read, CPUSeconds: float64(e.reads) / 2, MemoryBytes: 1 << 20, MemoryLimitBytes: 1 << 30,
			NetworkRxBytes: uint64(1000 * e.reads), NetworkTxBytes: uint64(500 * e.reads)}
		if e.down {
			web = dockerhost.ServiceUsage{Service: "web", Container: env + "-web-1", State: "exited", Health: "none", ExitCode: 137, StartedAt: e.start}
		}
		out[env] = dockerhost.Usage{Env: env, Services: []dockerhost.ServiceUsage{web}}
	}
	return out, nil
}

func sampler(e *engine, targets *[]usage.Target) *usage.Sampler {
	return &usage.Sampler{Reader: e, Targets: func(context.Context) ([]usage.Target, error) { return *targets, nil }}
}

func TestSamplerRatesHistoryAndForgetting(t *testing.T) {
	e := &engine{start: time.Now().Add(-time.Hour)}
	targets := []usage.Target{
		{Key: "k-shop-review", Project: "shop", Environment: "review/a"},
		{Key: "k-shop-staging", Project: "shop", Environment: "staging"},
	}
	s := sampler(e, &targets)
	ctx := context.Background()

	s.Pass(ctx)
	r, ok := s.Get("k-shop-review")
	if !ok || len(r.Services) != 1 || r.SampledAt.IsZero() {
		t.Fatalf("after one pass: %+v, %v", r, ok)
	}
	if web := r.Services[0]; web.CPUPercent != 0 || len(web.History) != 0 || !web.Up || web.UptimeSeconds < 3500 {
		t.Errorf("one sample has no rate and no history yet: %+v", web)
	}
	for range 3 {
		s.Pass(ctx)
	}
	r, _ = s.Get("k-shop-review")
	web := r.Services[0]
	// Half a CPU second per second is 50% of a core.
	if web.CPUPercent != 50 || web.NetworkRxPerSec != 1000 || web.NetworkTxPerSec != 500 || len(web.History) != 3 {
		t.Errorf("after four passes: cpu %.1f%%, rx %.0f B/s, tx %.0f B/s, %d points; want 50%%, 1000, 500, 3",
			web.CPUPercent, web.NetworkRxPerSec, web.NetworkTxPerSec, len(web.History))
	}
	if reports := s.Reports(); len(reports) != 2 || reports[0].Environment != "review/a" || reports[1].Environment != "staging" {
		t.Errorf("reports: %+v", reports)
	}

	// The same figures again keep the rates and add no point.
	e.stale = true
	s.Pass(ctx)
	r, _ = s.Get("k-shop-review")
	if web := r.Services[0]; web.CPUPercent != 50 || len(web.History) != 3 {
		t.Errorf("after a pass of the same figures: cpu %.1f%%, %d points; want 50%%, 3", web.CPUPercent, len(web.History))
	}
	e.stale = false

	// A failing engine keeps the last samples.
	e.failing = true
	s.Pass(ctx)
	if r2, ok := s.Get("k-shop-review"); !ok || !r2.SampledAt.Equal(r.SampledAt) {
		t.Errorf("a failed pass changed the report: %+v", r2)
	}
	e.failing = false

	// A stopped container is down, and has no rate.
	e.down = true
	s.Pass(ctx)
	r, _ = s.Get("k-shop-review")
	if web := r.Services[0]; web.Up || web.CPUPercent != 0 || web.State != "exited" || web.History[len(web.History)-1].Up {
		t.Errorf("stopped service: %+v", web)
	}

	// An environment no longer live is forgotten.
	targets = targets[1:]
	s.Pass(ctx)
	if _, ok := s.Get("k-shop-review"); ok {
		t.Error("a stopped environment is still reported")
	}
}

func TestSamplerHistoryIsBounded(t *testing.T) {
	e := &engine{start: time.Now()}
	targets := []usage.Target{{Key: "k", Project: "p", Environment: "e"}}
	s := sampler(e, &targets)
	for range usage.MaxPoints + 50 {
		s.Pass(context.Background())
	}
	r, _ := s.Get("k")
	if n := len(r.Services[0].History); n != usage.MaxPoints {
		t.Errorf("history of %d points, want at most %d", n, usage.MaxPoints)
	}
	// The window drops what is older than it.
	s.Window = time.Nanosecond
	time.Sleep(time.Millisecond)
	s.Pass(context.Background())
	if r, _ = s.Get("k"); len(r.Services[0].History) != 1 {
		t.Errorf("history beyond the window: %d points, want the last one", len(r.Services[0].History))
	}
}

func TestCollectorSeriesFollowLiveEnvironments(t *testing.T) {
	e := &engine{start: time.Now()}
	targets := []usage.Target{{Key: "k1", Project: "shop", Environment: "review/a"}, {Key: "gone", Project: "shop", Environment: "review/none"}}
	s := sampler(e, &targets)
	s.Pass(context.Background())
	s.Pass(context.Background())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	want := map[string]float64{
		"slipway_environment_cpu_seconds_total":            1,
		"slipway_environment_memory_bytes":                 1 << 20,
		"slipway_environment_memory_limit_bytes":           1 << 30,
		"slipway_environment_network_receive_bytes_total":  2000,
		"slipway_environment_network_transmit_bytes_total": 1000,
		"slipway_environment_up":                           1,
	}
	if got := gather(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series:\n%v\nwant\n%v", got, want)
	}
	targets = nil
	s.Pass(context.Background())
	if got := gather(t, reg); len(got) != 0 {
		t.Errorf("series left after the environment stopped: %v", got)
	}
}

// gather is the value of each series of reg, all of project shop,
// environment review/a, service web.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var lv []string
			for _, l := range m.GetLabel() {
				lv = append(lv, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(lv, ",") != "environment=review/a,project=shop,service=web" {
				t.Errorf("%s has labels %v", mf.GetName(), lv)
			}
			out[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// An environment listed twice in one pass (it changed state between the
// server's listings) is sampled once: its rates and history stay true.
func TestSamplerTargetListedTwice(t *testing.T) {
	e := &engine{start: time.Now().Add(-time.Hour)}
	review := usage.Target{Key: "k", Project: "shop", Environment: "review/a"}
	targets := []usage.Target{review, review}
	s := sampler(e, &targets)
	for range 3 {
		s.Pass(context.Background())
	}
	r, _ := s.Get("k")
	if web := r.Services[0]; web.CPUPercent != 50 || len(web.History) != 2 {
		t.Errorf("after three passes: cpu %.1f%%, %d points; want 50%%, 2", web.CPUPercent, len(web.History))
	}
}

// cluster stands in for a Kubernetes reader: it answers the pods of each
// target as one service, or fails.
type cluster struct {
	asked   map[string][]usage.PodSet
	failing bool
}

func (c *cluster) PodUsage(ctx context.Context, targets map[string][]usage.PodSet) (map[string]dockerhost.Usage, error) {
	c.asked = targets
	if c.failing {
		return nil, errors.New("nodes/proxy is forbidden")
	}
	out := map[string]dockerhost.Usage{}
	for key, sets := range targets {
		out[key] = dockerhost.Usage{Env: key, Services: []dockerhost.ServiceUsage{{Service: sets[0].Service, State: "running", Read: time.Now()}}}
	}
	return out, nil
}

// TestSamplerReadsEachTargetFromItsOwnReader: targets with a cluster are
// read from it with their pod sets, the others from the Docker host; a
// cluster that fails keeps its targets' last samples while the Docker
// host's go on.
func TestSamplerReadsEachTargetFromItsOwnReader(t *testing.T) {
	e := &engine{start: time.Now().Add(-time.Hour)}
	k := &cluster{}
	pods := []usage.PodSet{{Namespace: "shop", Selector: "app=web", Service: "web"}}
	targets := []usage.Target{
		{Key: "k-shop-staging", Project: "shop", Environment: "staging"},
		{Key: "gitops/prod", Deployment: "prod", Cluster: k, Pods: pods},
	}
	s := sampler(e, &targets)
	ctx := context.Background()
	s.Pass(ctx)
	if len(k.asked) != 1 || len(k.asked["gitops/prod"]) != 1 || k.asked["gitops/prod"][0] != pods[0] || e.reads != 1 {
		t.Fatalf("the cluster was asked %v, the engine read %d times", k.asked, e.reads)
	}
	onKube, _ := s.Get("gitops/prod")
	if len(onKube.Services) != 1 || onKube.Services[0].Service != "web" || onKube.Deployment != "prod" {
		t.Errorf("the cluster's target: %+v", onKube)
	}
	k.failing = true
	s.Pass(ctx)
	if again, _ := s.Get("gitops/prod"); !again.SampledAt.Equal(onKube.SampledAt) || len(again.Services) != 1 {
		t.Errorf("a failed cluster changed its target's report: %+v", again)
	}
	if host, _ := s.Get("k-shop-staging"); host.SampledAt.Equal(onKube.SampledAt) || e.reads != 2 {
		t.Errorf("the Docker host's target was not sampled again: %+v", host)
	}
}
