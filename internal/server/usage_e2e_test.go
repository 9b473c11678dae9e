package server_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost/dockerhosttest"
)

// burnerRow is the burner's line of `slipway env usage`: running, with its
// CPU and its 32 MiB limit.
var burnerRow = regexp.MustCompile(`(?m)^burner\s+running\s+none\s+\d+\s+\S+\s+([\d.]+)%\s+\S+\s+32\.0MiB\s`)

// TestEnvironmentUsageThroughAPipeline: a merge request deploys an
// environment whose service burns CPU; `slipway env usage` and /metrics
// show it, and once the merge request is closed its series are gone.
func TestEnvironmentUsageThroughAPipeline(t *testing.T) {
	compose := strings.ReplaceAll(dockerhosttest.UsageCompose, "${IMAGE}", "${CI_REGISTRY_IMAGE}/web:mr-${CI_MERGE_REQUEST_IID}")
	s, _, sha := webProjectWith(t, webPipeline("1 day", "[slipway env stop]"), compose, "  usage_interval: 500ms\n", 1)
	p := mergeRequest(t, s, 1, "open", "feature/usage", sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("deploy").Status == "success" || finished(p) })
	if p.job("deploy").Status != "success" {
		t.Fatalf("deploy: %s\n%s", p.job("deploy").Status, s.jobReport(p.ID, "deploy"))
	}
	const name = "review/feature-usage"
	cli := func(args ...string) string {
		t.Helper()
		out, err := s.cli(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("slipway %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := cli("env", "usage", "shop", name)
		// The deploy job may still start the other services.
		m := burnerRow.FindStringSubmatch(out)
		if m != nil && strings.Contains(out, "\nweb ") && strings.Contains(out, "\ncrasher ") {
			if pct, _ := strconv.ParseFloat(m[1], 64); pct > 0 {
				t.Logf("slipway env usage:\n%s", out)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("env usage never showed the three services, the burner busy:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	series := `{environment="` + name + `",project="shop",service="burner"}`
	if m := s.text("/metrics"); !strings.Contains(m, "slipway_environment_cpu_seconds_total"+series) || !strings.Contains(m, "slipway_environment_up"+series+" 1") {
		t.Errorf("/metrics lacks the burner's series %s", series)
	}

	mergeRequest(t, s, 1, "close", "feature/usage", sha)
	if st := s.waitEnvironment(name, "stopped"); st != "stopped" {
		t.Fatalf("%s after the close\n%s", st, s.jobReport(p.ID, "stop"))
	}
	for strings.Contains(s.text("/metrics"), `environment="`+name+`"`) {
		if time.Now().After(deadline.Add(2 * time.Minute)) {
			t.Fatal("series of the stopped environment still on /metrics")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := cli("env", "usage", "shop", name); !strings.Contains(out, "stopped") || !strings.Contains(out, "no service runs") {
		t.Errorf("env usage of the stopped environment:\n%s", out)
	}
}
