package dockerhost

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// usageConcurrency bounds the containers sampled at once. The engine
// answers a stats request at the next tick of its collector, which reads
// every container asked for once a second: requests wait rather than load
// it, and the more of a pass are in flight together, the fewer ticks the
// pass waits for (BenchmarkUsageOf).
const usageConcurrency = 32

// Usage is the resource use and health of an environment's current
// generation, one entry per service, sorted by name.
type Usage struct {
	Env      string         `json:"env"`
	Services []ServiceUsage `json:"services"`
}

// ServiceUsage is one service container's health and cumulative resource
// use at one moment. Counters (CPU seconds, network bytes) only grow while
// the container runs; a restart of the container resets them.
type ServiceUsage struct {
	Service   string `json:"service"`
	Container string `json:"container"`
	// State is Docker's: running, restarting, exited, ...
	State string `json:"state"`
	// Health is Docker's health check status (starting, healthy,
	// unhealthy), "none" without a health check in the image.
	Health       string `json:"health"`
	ExitCode     int    `json:"exit_code,omitempty"`
	RestartCount int    `json:"restart_count"`
	// StartedAt is when the container last started; zero if it never did.
	StartedAt time.Time `json:"started_at,omitzero"`
	// Read is when the engine took the sample.
	Read time.Time `json:"read"`
	// CPUSeconds is the CPU time the container used since it started.
	CPUSeconds float64 `json:"cpu_seconds"`
	// MemoryBytes is the memory in use without the page cache, as
	// `docker stats` shows it; MemoryLimitBytes is the container's limit,
	// or the host's memory without one.
	MemoryBytes      uint64 `json:"memory_bytes"`
	MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
	// NetworkRxBytes and NetworkTxBytes are summed over its interfaces.
	NetworkRxBytes uint64 `json:"network_rx_bytes"`
	NetworkTxBytes uint64 `json:"network_tx_bytes"`
}

// Up reports whether the service runs and is not known to be unhealthy.
func (u ServiceUsage) Up() bool {
	return u.State == string(container.StateRunning) && u.Health != string(container.Unhealthy)
}

// Uptime is how long the container has run since it last started, 0 when
// it does not run.
func (u ServiceUsage) Uptime(now time.Time) time.Duration {
	if u.State != string(container.StateRunning) || u.StartedAt.IsZero() {
		return 0
	}
	return now.Sub(u.StartedAt)
}

// Usage reads the health and resource use of every service container of
// env's current generation from the engine: an inspect and a one-shot
// stats sample per container (none for a container that does not run),
// a few containers at a time. ErrNotFound when env has no container.
func (d *Deployer) Usage(ctx context.Context, env string) (Usage, error) {
	if err := proxy.CheckSlug("environment slug", env); err != nil {
		return Usage{}, err
	}
	all, err := d.usage(ctx, envFilter(env), map[string]bool{env: true})
	if err != nil {
		return Usage{}, err
	}
	u, ok := all[env]
	if !ok {
		return Usage{}, fmt.Errorf("environment %s: %w", env, ErrNotFound)
	}
	return u, nil
}

// UsageOf is Usage of several environments with one container listing and
// one bound on the requests to the engine; environments without a
// container are not in the answer. Others' containers on a shared engine
// are not sampled.
func (d *Deployer) UsageOf(ctx context.Context, envs []string) (map[string]Usage, error) {
	keep := map[string]bool{}
	for _, env := range envs {
		keep[env] = true
	}
	return d.usage(ctx, client.Filters{}.Add("label", LabelEnv), keep)
}

func (d *Deployer) usage(ctx context.Context, f client.Filters, keep map[string]bool) (map[string]Usage, error) {
	statuses, err := d.list(ctx, f)
	if err != nil {
		return nil, err
	}
	type job struct {
		env string
		svc ServiceStatus
		out ServiceUsage
		err error
	}
	var jobs []*job
	for env, st := range statuses {
		if !keep[env] {
			continue
		}
		for _, svc := range st.Services {
			jobs = append(jobs, &job{env: env, svc: svc})
		}
	}
	sem := make(chan struct{}, usageConcurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			j.out, j.err = d.serviceUsage(ctx, j.svc)
		})
	}
	wg.Wait()
	out := map[string]Usage{}
	for _, j := range jobs {
		u := out[j.env]
		u.Env = j.env
		switch {
		case j.err == nil:
			u.Services = append(u.Services, j.out)
		case cerrdefs.IsNotFound(j.err):
			// Removed meanwhile (a redeploy's old generation): left out.
		default:
			return nil, fmt.Errorf("usage of %s: service %s: %w", j.env, j.svc.Name, j.err)
		}
		out[j.env] = u // services stay in the listing's order, by name
	}
	return out, nil
}

func (d *Deployer) serviceUsage(ctx context.Context, svc ServiceStatus) (ServiceUsage, error) {
	u := ServiceUsage{Service: svc.Name, Container: svc.Container, State: svc.State, Health: string(container.NoHealthcheck)}
	insp, err := d.opts.Client.ContainerInspect(ctx, svc.Container, client.ContainerInspectOptions{})
	if err != nil {
		return u, err
	}
	c := insp.Container
	u.RestartCount = c.RestartCount
	if s := c.State; s != nil {
		u.State = string(s.Status)
		u.ExitCode = s.ExitCode
		if s.Health != nil && s.Health.Status != "" {
			u.Health = string(s.Health.Status)
		}
		if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil && t.Year() > 1 {
			u.StartedAt = t
		}
	}
	if u.State != string(container.StateRunning) {
		return u, nil
	}
	res, err := d.opts.Client.ContainerStats(ctx, svc.Container, client.ContainerStatsOptions{})
	if err != nil {
		return u, fmt.Errorf("stats: %w", err)
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return u, fmt.Errorf("stats: %w", err)
	}
	u.Read = s.Read
	u.CPUSeconds = float64(s.CPUStats.CPUUsage.TotalUsage) / 1e9
	u.MemoryBytes = memoryWithoutCache(s.MemoryStats)
	u.MemoryLimitBytes = s.MemoryStats.Limit
	for _, n := range s.Networks {
		u.NetworkRxBytes += n.RxBytes
		u.NetworkTxBytes += n.TxBytes
	}
	return u, nil
}

// memoryWithoutCache is the memory a container uses less its inactive
// page cache, which the kernel reclaims first: what `docker stats` shows
// (the docker CLI's calculateMemUsageUnixNoCache), for cgroup v1 and v2.
func memoryWithoutCache(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage { // cgroup v1
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage { // cgroup v2
		return m.Usage - v
	}
	return m.Usage
}

// CPUPercent is the CPU the service used between prev and u, in percent of
// one core (200 is two cores busy); 0 when the two samples are not of the
// same run of the same container.
func (u ServiceUsage) CPUPercent(prev ServiceUsage) float64 {
	dt := u.Read.Sub(prev.Read).Seconds()
	if !u.sameRun(prev) || dt <= 0 || u.CPUSeconds < prev.CPUSeconds {
		return 0
	}
	return (u.CPUSeconds - prev.CPUSeconds) / dt * 100
}

// NetworkRates are the bytes per second received and sent between prev
// and u; 0 when the two samples are not of the same run of the container.
func (u ServiceUsage) NetworkRates(prev ServiceUsage) (rx, tx float64) {
	dt := u.Read.Sub(prev.Read).Seconds()
	if !u.sameRun(prev) || dt <= 0 || u.NetworkRxBytes < prev.NetworkRxBytes || u.NetworkTxBytes < prev.NetworkTxBytes {
		return 0, 0
	}
	return float64(u.NetworkRxBytes-prev.NetworkRxBytes) / dt, float64(u.NetworkTxBytes-prev.NetworkTxBytes) / dt
}

// sameRun: counters of a container are comparable between two samples
// only when it did not restart (or was replaced) in between.
func (u ServiceUsage) sameRun(prev ServiceUsage) bool {
	return u.Container == prev.Container && u.StartedAt.Equal(prev.StartedAt) &&
		!u.Read.IsZero() && !prev.Read.IsZero()
}
