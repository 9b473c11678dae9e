package deploy

import (
	"strings"
	"testing"
	"time"
)

func TestConfigReadsMetricsWebhooksAndApproval(t *testing.T) {
	cfg, err := ParseConfig("/srv/app/deploy.yaml", []byte(`
targets:
  production:
    compose: compose.yaml
    strategy: canary
    canary:
      approval: true
      prometheus: http://127.0.0.1:9090
      metrics:
      - name: success
        templateRef: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
      - name: errors
        query: sum(rate(slipway_proxy_requests_total{version="{{ version }}",code="5xx"}[{{ interval }}]))
        thresholdRange: {max: 0.5}
      webhooks:
      - {name: gate, type: confirm-promotion, url: "http://127.0.0.1:8888/gate", timeout: 5s}
      - {name: load, type: rollout, url: "http://127.0.0.1:8888/", metadata: {cmd: "hey -z 1m"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := cfg.Target("production")
	s := tc.Strategy
	a := s.Analysis
	if !s.Approval || a.Prometheus != "http://127.0.0.1:9090" || len(a.Metrics) != 2 || len(s.Webhooks) != 2 {
		t.Fatalf("strategy = %+v", s)
	}
	if m := a.Metrics[0]; m.TemplateRef != "request-success-rate" || m.Min == nil || *m.Min != 99 || m.Max != nil || m.Interval != time.Minute {
		t.Errorf("metrics[0] = %+v", m)
	}
	if w := s.Webhooks[1]; w.Type != RolloutHook || w.Metadata["cmd"] != "hey -z 1m" || s.Webhooks[0].Timeout != 5*time.Second {
		t.Errorf("webhooks = %+v", s.Webhooks)
	}
	q, err := a.Metrics[1].render("production", "7", 30*time.Second)
	if err != nil || q != `sum(rate(slipway_proxy_requests_total{version="7",code="5xx"}[30s]))` {
		t.Errorf("query = %q, %v", q, err)
	}
	if q, _ := a.Metrics[0].render("production", "7", 30*time.Second); !strings.Contains(q, `route=~"slipway-production--.*",version="7"`) || !strings.Contains(q, "[1m]") {
		t.Errorf("request-success-rate = %q, want the env's routes, version 7, the metric's own interval", q)
	}
}

func TestConfigErrorsOfMetricsAndWebhooksNamePlace(t *testing.T) {
	head := "targets:\n  prod:\n    compose: c.yaml\n    strategy: canary\n    canary:\n"
	for _, tc := range []struct{ yaml, want string }{
		{"      metrics: [{name: a, templateRef: request-success-rate, thresholdRange: {min: 99}}]\n",
			"deploy.yaml:6:7: targets.prod.canary.prometheus: missing"},
		{"      prometheus: http://p\n      metrics: [{name: a, templateRef: nope, thresholdRange: {min: 1}}]\n",
			`deploy.yaml:7:17: targets.prod.canary.metrics[0].templateRef "nope": want one of`},
		{"      prometheus: http://p\n      metrics: [{name: a, query: up}]\n",
			"deploy.yaml:7:17: targets.prod.canary.metrics[0].thresholdRange: want min, max or both"},
		{"      prometheus: http://p\n      metrics: [{name: a, query: '{{ nope }}', thresholdRange: {max: 1}}]\n",
			"deploy.yaml:7:17: targets.prod.canary.metrics[0].query:"},
		{"      prometheus: http://p\n      metrics: [{name: a, query: up, thresholdRange: {min: x}}]\n",
			"targets.prod.canary.metrics[0].thresholdRange.min: want a number"},
		{"      webhooks: [{name: w, type: pre-flight, url: 'http://h/'}]\n",
			`deploy.yaml:6:18: targets.prod.canary.webhooks[0].type "pre-flight": want one of`},
		{"      webhooks: [{name: w, type: rollout, url: 'ftp://h/'}]\n",
			`targets.prod.canary.webhooks[0].url "ftp://h/": want an http:// or https:// URL`},
		{"      approval: maybe\n", "deploy.yaml:6:17: targets.prod.canary.approval:"},
	} {
		_, err := ParseConfig("deploy.yaml", []byte(head+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(...%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}
