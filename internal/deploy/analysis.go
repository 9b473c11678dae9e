package deploy

import (
	"fmt"
	"math"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Analysis is what a canary step must show, from the proxy's counts of the
// canary's responses during the step.
type Analysis struct {
	// SuccessRate is the least share of non-5xx responses, 0.99 for 99%
	// (DefaultSuccessRate when zero).
	SuccessRate float64
	// MaxP99 bounds the 99th percentile of the latency; zero for no bound.
	MaxP99 time.Duration
	// MinRequests is how many responses a step needs to judge the canary
	// (DefaultMinRequests when zero); a step with fewer fails: no traffic
	// proves nothing.
	MinRequests uint64
	// MaxFailedChecks is how many failed steps roll the canary back
	// (DefaultMaxFailedChecks when zero); a failed step is run again.
	MaxFailedChecks int
	// Prometheus is the base URL of the Prometheus the Metrics query.
	Prometheus string
	// Metrics are PromQL checks each step must pass as well (metrics.go).
	Metrics []Metric
}

// Defaults of zero Analysis fields.
const (
	DefaultSuccessRate     = 0.99
	DefaultMinRequests     = 10
	DefaultMaxFailedChecks = 2
)

// Validate checks the analysis, naming the bad field.
func (a Analysis) Validate() error {
	if a.SuccessRate < 0 || a.SuccessRate > 1 {
		return fmt.Errorf("analysis.success_rate %v: want 0 to 1 (0.99 is 99%%)", a.SuccessRate)
	}
	if a.MaxP99 < 0 || a.MaxFailedChecks < 0 {
		return fmt.Errorf("analysis: max_p99 and max_failed_checks must not be negative")
	}
	if len(a.Metrics) > 0 && a.Prometheus == "" {
		return fmt.Errorf("analysis.prometheus: missing: the metrics need a Prometheus to query")
	}
	for i, m := range a.Metrics {
		if err := m.Validate(fmt.Sprintf("metrics[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (a Analysis) withDefaults() Analysis {
	if a.SuccessRate == 0 {
		a.SuccessRate = DefaultSuccessRate
	}
	if a.MinRequests == 0 {
		a.MinRequests = DefaultMinRequests
	}
	if a.MaxFailedChecks == 0 {
		a.MaxFailedChecks = DefaultMaxFailedChecks
	}
	return a
}

// Check is the analysis of one canary step.
type Check struct {
	Weight      int           `json:"weight"`
	Requests    uint64        `json:"requests"`
	SuccessRate float64       `json:"success_rate"`
	P99         time.Duration `json:"p99"`
	Passed      bool          `json:"passed"`
	// Reason says why a check failed.
	Reason string `json:"reason,omitempty"`
	// Metrics are the results of the PromQL checks.
	Metrics []MetricResult `json:"metrics,omitempty"`
}

// fail marks the check failed for reason, unless it failed already.
func (c *Check) fail(reason string) {
	if c.Passed || c.Reason == "" {
		c.Passed, c.Reason = false, reason
	}
}

// Check judges the canary's responses of one step.
func (a Analysis) Check(weight int, s proxy.Stats) Check {
	a = a.withDefaults()
	c := Check{Weight: weight, Requests: s.Requests, SuccessRate: s.SuccessRate(), P99: s.Quantile(0.99)}
	switch {
	case s.Requests < a.MinRequests:
		c.Reason = fmt.Sprintf("%d requests, want at least %d", s.Requests, a.MinRequests)
	case c.SuccessRate < a.SuccessRate:
		c.Reason = fmt.Sprintf("success rate %.2f%% (%d errors of %d), want at least %.2f%%",
			100*c.SuccessRate, s.Errors(), s.Requests, 100*a.SuccessRate)
	case a.MaxP99 > 0 && c.P99 > a.MaxP99:
		c.Reason = fmt.Sprintf("p99 latency %s, want at most %s", c.Latency(), a.MaxP99)
	default:
		c.Passed = true
	}
	return c
}

// Latency says where the p99 lies: "up to" its histogram bucket's bound,
// or "above" the last bound (Quantile's +Inf).
func (c Check) Latency() string {
	if c.P99 == math.MaxInt64 {
		last := proxy.LatencyBuckets[len(proxy.LatencyBuckets)-1]
		return "above " + time.Duration(last*float64(time.Second)).String()
	}
	return "up to " + c.P99.String()
}
