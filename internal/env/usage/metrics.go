package usage

import "github.com/prometheus/client_golang/prometheus"

var (
	labels    = []string{"project", "environment", "service"}
	cpuDesc   = prometheus.NewDesc("slipway_environment_cpu_seconds_total", "CPU time a service's container used since it last started.", labels, nil)
	memDesc   = prometheus.NewDesc("slipway_environment_memory_bytes", "Memory a service's container uses, without page cache.", labels, nil)
	limitDesc = prometheus.NewDesc("slipway_environment_memory_limit_bytes", "Memory limit of a service's container (the host's memory without one).", labels, nil)
	rxDesc    = prometheus.NewDesc("slipway_environment_network_receive_bytes_total", "Bytes a service's container received since it last started.", labels, nil)
	txDesc    = prometheus.NewDesc("slipway_environment_network_transmit_bytes_total", "Bytes a service's container sent since it last started.", labels, nil)
	upDesc    = prometheus.NewDesc("slipway_environment_up", "1 when a service's container runs and is not unhealthy, else 0.", labels, nil)
)

// Collector returns the Prometheus collector of the sampler's last
// samples. Series exist for live environments only: a stopped one's go at
// the next pass, so the number of series stays bounded.
func (s *Sampler) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Sampler }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cpuDesc, memDesc, limitDesc, rxDesc, txDesc, upDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.s.Reports() {
		for _, svc := range r.Services {
			lv := []string{r.Project, r.Environment, svc.Service}
			up := 0.0
			if svc.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, lv...)
			if svc.Read.IsZero() {
				continue // not running: no resource use to report
			}
			ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, svc.CPUSeconds, lv...)
			ch <- prometheus.MustNewConstMetric(memDesc, prometheus.GaugeValue, float64(svc.MemoryBytes), lv...)
			ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(svc.MemoryLimitBytes), lv...)
			ch <- prometheus.MustNewConstMetric(rxDesc, prometheus.CounterValue, float64(svc.NetworkRxBytes), lv...)
			ch <- prometheus.MustNewConstMetric(txDesc, prometheus.CounterValue, float64(svc.NetworkTxBytes), lv...)
		}
	}
}
