package usage

import "github.com/prometheus/client_golang/prometheus"

// descs are the series of one kind of target: environments are labelled by
// project and environment, GitOps apps by deployment and app.
type descs struct{ cpu, mem, limit, rx, tx, up *prometheus.Desc }

func newDescs(prefix, what string, labels ...string) descs {
	labels = append(labels, "service")
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+name, help, labels, nil)
	}
	return descs{
		cpu:   d("cpu_seconds_total", "CPU time "+what+" used since it last started."),
		mem:   d("memory_bytes", "Memory "+what+" uses, without page cache."),
		limit: d("memory_limit_bytes", "Memory limit of "+what+" (the host's memory without one)."),
		rx:    d("network_receive_bytes_total", "Bytes "+what+" received since it last started."),
		tx:    d("network_transmit_bytes_total", "Bytes "+what+" sent since it last started."),
		up:    d("up", "1 when "+what+" runs and is not unhealthy, else 0."),
	}
}

var (
	envDescs    = newDescs("slipway_environment_", "a service's container (or pods)", "project", "environment")
	gitopsDescs = newDescs("slipway_gitops_app_", "a GitOps app's service (its container or pods)", "deployment", "app")
)

func (d descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.cpu, d.mem, d.limit, d.rx, d.tx, d.up}
}

// Collector returns the Prometheus collector of the sampler's last
// samples. Series exist for live targets only: a stopped one's go at
// the next pass, so the number of series stays bounded.
func (s *Sampler) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Sampler }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append(envDescs.all(), gitopsDescs.all()...) {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.s.Reports() {
		d, target := envDescs, []string{r.Project, r.Environment}
		if r.Deployment != "" {
			d, target = gitopsDescs, []string{r.Deployment, r.App}
		}
		for _, svc := range r.Services {
			lv := append(target[:2:2], svc.Service)
			up := 0.0
			if svc.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, up, lv...)
			if svc.Read.IsZero() {
				continue // not running: no resource use to report
			}
			ch <- prometheus.MustNewConstMetric(d.cpu, prometheus.CounterValue, svc.CPUSeconds, lv...)
			ch <- prometheus.MustNewConstMetric(d.mem, prometheus.GaugeValue, float64(svc.MemoryBytes), lv...)
			ch <- prometheus.MustNewConstMetric(d.limit, prometheus.GaugeValue, float64(svc.MemoryLimitBytes), lv...)
			ch <- prometheus.MustNewConstMetric(d.rx, prometheus.CounterValue, float64(svc.NetworkRxBytes), lv...)
			ch <- prometheus.MustNewConstMetric(d.tx, prometheus.CounterValue, float64(svc.NetworkTxBytes), lv...)
		}
	}
}
