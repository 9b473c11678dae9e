// Package usage watches the health and resource use of running
// environments: a Sampler reads every live environment's containers at an
// interval and keeps the last sample and a short history of each service,
// so rates (CPU %, network bytes/s) and their sparklines can be shown, and
// Prometheus can scrape the counters.
//
// It keeps everything in memory: a restarted server starts a new history,
// while the counters, which the engine keeps, go on.
package usage

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// Defaults of a zero Sampler's settings.
const (
	DefaultWindow = time.Hour
	// MaxPoints bounds each service's history whatever the interval: at
	// 15s, an hour is 240 points.
	MaxPoints = 720
)

// Target is a live environment, or a GitOps deployment's app, to sample.
type Target struct {
	// Key identifies the target in the sampler; on the Docker host it is
	// the environment's key (its containers' slipway.env label).
	Key           string `json:"-"`
	ProjectID     int64  `json:"project_id,omitempty"`
	Project       string `json:"project,omitempty"`
	EnvironmentID int64  `json:"environment_id,omitempty"`
	Environment   string `json:"environment,omitempty"`
	// Deployment and App name a GitOps app instead of an environment
	// (App is empty for a deployment onto Kubernetes).
	Deployment string `json:"deployment,omitempty"`
	App        string `json:"app,omitempty"`
	// Cluster reads Pods when the target runs on Kubernetes; without it
	// the target's containers are on the Docker host (Sampler.Reader).
	Cluster PodReader `json:"-"`
	Pods    []PodSet  `json:"-"`
}

// Reader reads the usage of environments; *dockerhost.Deployer is one.
type Reader interface {
	UsageOf(ctx context.Context, envs []string) (map[string]dockerhost.Usage, error)
}

// PodSet selects some of a target's pods on Kubernetes.
type PodSet struct {
	Namespace string
	// Selector is a label selector (app=web,tier in (a,b)).
	Selector string
	// Service names the pods' service; empty names each pod after the
	// workload that owns it (its Deployment, StatefulSet, ...).
	Service string
	// ServiceLabel, when set, names each pod after its value of this
	// label (a review environment's pods: one service, several generations).
	ServiceLabel string
}

// PodReader reads the usage of targets on one Kubernetes cluster, by
// target key: a service's figures are summed over its pods.
// *kubeusage.Reader is one.
type PodReader interface {
	PodUsage(ctx context.Context, targets map[string][]PodSet) (map[string]dockerhost.Usage, error)
}

// Point is one moment of a service's history. Rates are over the time
// since the sample before.
type Point struct {
	Time            time.Time `json:"time"`
	Up              bool      `json:"up"`
	CPUPercent      float64   `json:"cpu_percent"`
	MemoryBytes     uint64    `json:"memory_bytes"`
	NetworkRxPerSec float64   `json:"network_rx_bytes_per_second"`
	NetworkTxPerSec float64   `json:"network_tx_bytes_per_second"`
}

// Service is a service's last sample, its current rates and its history,
// oldest first.
type Service struct {
	dockerhost.ServiceUsage
	Up            bool    `json:"up"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Rates over the last interval; 0 until there are two samples of the
	// same run of its container.
	CPUPercent      float64 `json:"cpu_percent"`
	NetworkRxPerSec float64 `json:"network_rx_bytes_per_second"`
	NetworkTxPerSec float64 `json:"network_tx_bytes_per_second"`
	History         []Point `json:"history"`
}

// Report is an environment's services as last sampled.
type Report struct {
	Target
	// SampledAt is the last pass that read it, zero before the first.
	SampledAt time.Time `json:"sampled_at"`
	Services  []Service `json:"services"`
}

// Sampler is the usage controller: each Pass samples every live
// environment and forgets those no longer live. It is safe for concurrent
// use and to restart at any moment.
type Sampler struct {
	Reader Reader
	// Targets lists the live environments (available, stopping, ...).
	Targets func(ctx context.Context) ([]Target, error)
	// Window is how far back the history goes (DefaultWindow when zero).
	Window time.Duration
	Logger *slog.Logger

	mu      sync.Mutex
	reports map[string]*Report // by Target.Key
}

func (s *Sampler) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Pass samples every live environment once. An error keeps the last
// samples: a busy engine shows old numbers rather than none.
func (s *Sampler) Pass(ctx context.Context) {
	targets, err := s.Targets(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log().Error("usage: listing live environments", "err", err)
		}
		return
	}
	all, failed := s.read(ctx, targets)
	now := time.Now()
	window := cmp.Or(s.Window, DefaultWindow)
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*Report, len(targets))
	for _, t := range targets {
		if next[t.Key] != nil {
			continue // listed twice: a second record would compare the sample with itself
		}
		r := s.reports[t.Key]
		if r == nil {
			r = &Report{}
		}
		r.Target = t
		if !failed[t.Key] {
			r.SampledAt = now
			r.Services = record(r.Services, all[t.Key].Services, now, window)
		}
		next[t.Key] = r
	}
	// Environments no longer live are forgotten, with their series.
	s.reports = next
}

// read asks each target's reader for its usage: the Docker host's for
// targets without a cluster, each cluster's for its own. The targets of a
// reader that fails are in failed: they keep their last samples.
func (s *Sampler) read(ctx context.Context, targets []Target) (all map[string]dockerhost.Usage, failed map[string]bool) {
	all, failed = map[string]dockerhost.Usage{}, map[string]bool{}
	var onHost []string
	clusters := map[PodReader]map[string][]PodSet{}
	for _, t := range targets {
		if t.Cluster == nil {
			onHost = append(onHost, t.Key)
			continue
		}
		if clusters[t.Cluster] == nil {
			clusters[t.Cluster] = map[string][]PodSet{}
		}
		clusters[t.Cluster][t.Key] = t.Pods
	}
	keep := func(got map[string]dockerhost.Usage, err error, keys []string, what string) {
		if err != nil {
			if ctx.Err() == nil {
				s.log().Warn("usage: sampling "+what, "err", err)
			}
			for _, k := range keys {
				failed[k] = true
			}
			return
		}
		maps.Copy(all, got)
	}
	if len(onHost) > 0 {
		if s.Reader == nil {
			keep(nil, errors.New("no Docker host to read"), onHost, "the Docker host")
		} else {
			got, err := s.Reader.UsageOf(ctx, onHost)
			keep(got, err, onHost, "the Docker host")
		}
	}
	for c, sets := range clusters {
		got, err := c.PodUsage(ctx, sets)
		keep(got, err, slices.Collect(maps.Keys(sets)), "a Kubernetes cluster")
	}
	return all, failed
}

// record turns the new samples into services, with the rates since the
// previous ones and their history; services gone from the environment go.
func record(prev []Service, samples []dockerhost.ServiceUsage, now time.Time, window time.Duration) []Service {
	out := make([]Service, 0, len(samples))
	for _, u := range samples {
		svc := Service{ServiceUsage: u, Up: u.Up(), UptimeSeconds: u.Uptime(now).Seconds()}
		i := slices.IndexFunc(prev, func(p Service) bool { return p.Service == u.Service })
		if i >= 0 && !u.Read.IsZero() && u.Read.Equal(prev[i].Read) {
			// The same figures again (a kubelet refreshes its own every
			// few seconds): no new point, the rates of the last one.
			old := prev[i]
			svc.CPUPercent, svc.NetworkRxPerSec, svc.NetworkTxPerSec = old.CPUPercent, old.NetworkRxPerSec, old.NetworkTxPerSec
			svc.History = old.History
		} else if i >= 0 {
			old := prev[i]
			svc.CPUPercent = u.CPUPercent(old.ServiceUsage)
			svc.NetworkRxPerSec, svc.NetworkTxPerSec = u.NetworkRates(old.ServiceUsage)
			// A point needs two samples: a first one has no rates yet.
			svc.History = append(old.History, Point{Time: now, Up: svc.Up, CPUPercent: svc.CPUPercent, MemoryBytes: u.MemoryBytes,
				NetworkRxPerSec: svc.NetworkRxPerSec, NetworkTxPerSec: svc.NetworkTxPerSec})
			svc.History = trim(svc.History, now.Add(-window))
		}
		out = append(out, svc)
	}
	return out
}

// trim drops the points before since and those beyond MaxPoints, in place.
func trim(h []Point, since time.Time) []Point {
	start := max(len(h)-MaxPoints, 0)
	for start < len(h) && h[start].Time.Before(since) {
		start++
	}
	if start == 0 {
		return h
	}
	return append(h[:0], h[start:]...)
}

// Get returns the report of the environment with this host key.
func (s *Sampler) Get(key string) (Report, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reports[key]
	if !ok {
		return Report{}, false
	}
	return r.clone(), true
}

// Reports returns every live environment's report, by project and name.
func (s *Sampler) Reports() []Report {
	s.mu.Lock()
	out := make([]Report, 0, len(s.reports))
	for _, r := range s.reports {
		out = append(out, r.clone())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Report) int {
		return cmp.Or(cmp.Compare(a.Project, b.Project), cmp.Compare(a.Environment, b.Environment))
	})
	return out
}

// clone copies r deeply enough that the next pass cannot change it.
func (r *Report) clone() Report {
	c := *r
	c.Services = slices.Clone(r.Services)
	for i := range c.Services {
		c.Services[i].History = slices.Clone(c.Services[i].History)
	}
	return c
}
