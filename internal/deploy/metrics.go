package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Metric is a PromQL check of a canary step, in Flagger's shape: a query
// (or a built-in template) whose value must lie within a range.
type Metric struct {
	// Name names the check in the rollout's history and logs.
	Name string
	// Query is PromQL, a Go template with {{ env }} (the environment
	// slug), {{ version }} (the canary generation's version label) and
	// {{ interval }} (Interval, e.g. 1m); one of Query and TemplateRef.
	Query string
	// TemplateRef names a built-in query: MetricTemplates.
	TemplateRef string
	// Min and Max bound the value (thresholdRange); nil for no bound.
	Min, Max *float64
	// Interval is the range of the query's rates; the step interval when
	// zero.
	Interval time.Duration
}

// MetricTemplates are the built-in queries, over the embedded proxy's
// series (docs/proxy.md), named as Flagger's: request-success-rate, the
// percentage of the canary's requests neither 5xx nor failed (100 without
// errors), and request-duration, its p99 latency in milliseconds.
var MetricTemplates = map[string]string{
	"request-success-rate": `100 * (1 - (sum(rate(slipway_proxy_requests_total{route=~"slipway-{{ env }}--.*",version="{{ version }}",code=~"5xx|failed"}[{{ interval }}])) or on() vector(0)) / sum(rate(slipway_proxy_requests_total{route=~"slipway-{{ env }}--.*",version="{{ version }}"}[{{ interval }}])))`,
	"request-duration":     `1000 * histogram_quantile(0.99, sum by (le) (rate(slipway_proxy_request_duration_seconds_bucket{route=~"slipway-{{ env }}--.*",version="{{ version }}"}[{{ interval }}])))`,
}

// Validate names the bad field of the metric at its place (at).
func (m Metric) Validate(at string) error {
	if m.Name == "" {
		return fmt.Errorf("%s.name: missing", at)
	}
	switch {
	case m.Query == "" && m.TemplateRef == "":
		return fmt.Errorf("%s: want query or templateRef", at)
	case m.Query != "" && m.TemplateRef != "":
		return fmt.Errorf("%s: query and templateRef: want one of them", at)
	case m.TemplateRef != "" && MetricTemplates[m.TemplateRef] == "":
		return fmt.Errorf("%s.templateRef %q: want one of request-success-rate, request-duration", at, m.TemplateRef)
	}
	if _, err := m.template(); err != nil {
		return fmt.Errorf("%s.query: %w", at, err)
	}
	if m.Min == nil && m.Max == nil {
		return fmt.Errorf("%s.thresholdRange: want min, max or both", at)
	}
	if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
		return fmt.Errorf("%s.thresholdRange: min %v above max %v", at, *m.Min, *m.Max)
	}
	if m.Interval < 0 {
		return fmt.Errorf("%s.interval: negative", at)
	}
	return nil
}

func (m Metric) template() (*template.Template, error) {
	q := m.Query
	if m.TemplateRef != "" {
		q = MetricTemplates[m.TemplateRef]
	}
	// The names are functions so that queries read like Flagger's:
	// {{ interval }}, not {{ .Interval }}.
	return template.New(m.Name).Option("missingkey=error").Funcs(template.FuncMap{
		"env": func() string { return "" }, "version": func() string { return "" }, "interval": func() string { return "" },
	}).Parse(q)
}

// render is the metric's PromQL for the canary version of env.
func (m Metric) render(env, version string, interval time.Duration) (string, error) {
	if m.Interval > 0 {
		interval = m.Interval
	}
	t, err := m.template()
	if err != nil {
		return "", err
	}
	t.Funcs(template.FuncMap{
		"env":      func() string { return env },
		"version":  func() string { return version },
		"interval": func() string { return model.Duration(interval).String() },
	})
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

// MetricResult is the outcome of one Metric in a step.
type MetricResult struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Passed bool    `json:"passed"`
	Reason string  `json:"reason,omitempty"`
}

// MarshalJSON writes a value JSON cannot hold (NaN when the query gave
// none, ±Inf) as null: a rollout's record with such a check must still
// save; its reason says what happened.
func (r MetricResult) MarshalJSON() ([]byte, error) {
	type plain MetricResult
	var v *float64
	if !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0) {
		v = &r.Value
	}
	return json.Marshal(struct {
		plain
		Value *float64 `json:"value"`
	}{plain(r), v})
}

// UnmarshalJSON reads a null value back as NaN.
func (r *MetricResult) UnmarshalJSON(b []byte) error {
	type plain MetricResult
	aux := struct {
		*plain
		Value *float64 `json:"value"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.Value = math.NaN()
	if aux.Value != nil {
		r.Value = *aux.Value
	}
	return nil
}

// checkMetric queries prometheus (its base URL) for m. No value (no
// series, NaN) fails: a canary that sent no data proves nothing.
func checkMetric(ctx context.Context, prometheus string, m Metric, env, version string, interval time.Duration) MetricResult {
	res := MetricResult{Name: m.Name, Value: math.NaN()}
	q, err := m.render(env, version, interval)
	if err != nil {
		res.Reason = fmt.Sprintf("metric %s: %v", m.Name, err)
		return res
	}
	v, err := queryScalar(ctx, prometheus, q)
	if err != nil {
		res.Reason = fmt.Sprintf("metric %s: %v", m.Name, err)
		return res
	}
	res.Value = v
	switch {
	case m.Min != nil && v < *m.Min:
		res.Reason = fmt.Sprintf("metric %s: %g below %g", m.Name, v, *m.Min)
	case m.Max != nil && v > *m.Max:
		res.Reason = fmt.Sprintf("metric %s: %g above %g", m.Name, v, *m.Max)
	default:
		res.Passed = true
	}
	return res
}

var errNoValue = errors.New("no value (no series matched, or a division by zero: no requests?)")

// queryScalar runs an instant query and returns its one value.
func queryScalar(ctx context.Context, prometheus, q string) (float64, error) {
	c, err := promapi.NewClient(promapi.Config{Address: prometheus})
	if err != nil {
		return 0, fmt.Errorf("prometheus %s: %w", prometheus, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	val, _, _, err := promv1.NewAPI(c).Query(ctx, q, time.Now())
	if err != nil {
		return 0, fmt.Errorf("prometheus %s: %w", prometheus, err)
	}
	var f float64
	switch v := val.(type) {
	case model.Vector:
		if len(v) == 0 {
			return 0, errNoValue
		}
		if len(v) > 1 {
			return 0, fmt.Errorf("%d series, want one (sum them)", len(v))
		}
		f = float64(v[0].Value)
	case *model.Scalar:
		f = float64(v.Value)
	default:
		return 0, fmt.Errorf("a %s, want a vector or a scalar", val.Type())
	}
	if math.IsNaN(f) {
		return 0, errNoValue
	}
	return f, nil
}
