package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipway-cd/slipway/internal/notify"
)

// metrics are Slipway's Prometheus series, fed by pipeline and job events.
type metrics struct {
	pipelines *prometheus.CounterVec
	jobs      *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	webhooks  *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		pipelines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_pipelines_total", Help: "Pipelines that reached a status.",
		}, []string{"project", "status"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_jobs_total", Help: "Jobs that reached a status.",
		}, []string{"project", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_pipeline_duration_seconds", Help: "Duration of finished pipelines.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{"project", "status"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhooks_total", Help: "Webhook deliveries by answer code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.pipelines, m.jobs, m.duration, m.webhooks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(e notify.Event) {
	switch e.Kind {
	case notify.KindPipeline:
		m.pipelines.WithLabelValues(e.Project.Name, string(e.Status)).Inc()
		if e.Pipeline.DurationSeconds > 0 {
			m.duration.WithLabelValues(e.Project.Name, string(e.Status)).Observe(e.Pipeline.DurationSeconds)
		}
	case notify.KindJob:
		m.jobs.WithLabelValues(e.Project.Name, string(e.Status)).Inc()
	}
}
