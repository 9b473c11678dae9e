package deploy

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigReadsTargetsAndStrategies(t *testing.T) {
	cfg, err := ParseConfig("/srv/app/deploy.yaml", []byte(`
domain: example.org
ports: 28000-28099
proxy: {listen: "127.0.0.1:9080"}
targets:
  dev:
    compose: dev.compose.yaml
    strategy: rolling
  production:
    compose: /srv/app/compose.yaml
    vars: {LOG_LEVEL: info}
    strategy: canary
    drain: 2s
    blue_green: {smoke: /healthz, keep: 5m}
    canary: {steps: [5, 50, 100], interval: 30s, success_rate: 0.995, max_p99: 250ms, min_requests: 40, max_failed_checks: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != filepath.Join("/srv/app", DefaultStateDir) || cfg.Listen != "127.0.0.1:9080" || cfg.Control != DefaultControl ||
		cfg.Hostnames.Domain != "example.org" || cfg.Ports.Low != 28000 || len(cfg.Targets) != 2 {
		t.Fatalf("config = %+v", cfg)
	}
	dev, err := cfg.Target("dev")
	if err != nil || dev.Compose != "/srv/app/dev.compose.yaml" || dev.Strategy.Kind != Rolling {
		t.Fatalf("dev = %+v, %v", dev, err)
	}
	prod, _ := cfg.Target("production")
	s := prod.Strategy
	want := Analysis{SuccessRate: 0.995, MaxP99: 250 * time.Millisecond, MinRequests: 40, MaxFailedChecks: 3}
	if s.Kind != Canary || s.Drain != 2*time.Second || s.Smoke != "/healthz" || s.Keep != 5*time.Minute ||
		len(s.Steps) != 3 || s.Steps[0] != 5 || s.Interval != 30*time.Second || !reflect.DeepEqual(s.Analysis, want) || prod.Vars["LOG_LEVEL"] != "info" {
		t.Fatalf("production = %+v", prod)
	}
	if _, err := cfg.Target("staging"); err == nil || !strings.Contains(err.Error(), "dev, production") {
		t.Fatalf("unknown target: %v, want the known ones listed", err)
	}
}

func TestConfigErrorsNameFileLineColumnAndKey(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"targets:\n  prod:\n    compose: c.yaml\n    strategy: canary\n    canery: {}\n", "deploy.yaml:5:13: targets.prod.canery: unknown key"},
		{"targets:\n  prod:\n    compose: c.yaml\n    strategy: big-bang\n", `deploy.yaml:4:15: targets.prod.strategy: "big-bang": want one of`},
		{"targets:\n  prod:\n    strategy: rolling\n", "deploy.yaml:3:5: targets.prod.compose: missing"},
		{"targets:\n  prod:\n    compose: c.yaml\n    strategy: canary\n    canary: {steps: [10, 5]}\n", "deploy.yaml:5:26: targets.prod.canary.steps[1]: 5: want weights rising"},
		{"targets:\n  prod:\n    compose: c.yaml\n    strategy: canary\n    canary: {interval: soon}\n", `deploy.yaml:5:24: targets.prod.canary.interval: want a duration`},
		{"targets:\n  prod:\n    compose: c.yaml\n    strategy: canary\n    canary: {success_rate: 99}\n", `deploy.yaml:5:28: targets.prod.canary.success_rate: want a share`},
		{"ports: 9-8\ntargets: {}\n", "deploy.yaml:1:8: ports:"},
		{"domain: example.org\n", "deploy.yaml:1:1: targets: no target"},
		{"targets:\n  prod: {compose: a.yaml, strategy: rolling}\n  prod: {compose: b.yaml, strategy: canary}\n", "deploy.yaml:3:3: targets.prod: duplicate key (first on line 2)"},
		{"targets:\n  prod: {compose: a.yaml, strategy: rolling, strategy: canary}\n", "deploy.yaml:2:46: targets.prod.strategy: duplicate key (first on line 2)"},
	} {
		_, err := ParseConfig("deploy.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}
