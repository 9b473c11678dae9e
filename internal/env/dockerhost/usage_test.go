package dockerhost_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/dockerhost/dockerhosttest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func (f *fixture) deployUsage(t *testing.T, name string) dockerhost.Status {
	t.Helper()
	return dockerhosttest.DeployUsage(t, f.cli, f.d, dockerhost.Spec{Env: slug.Environment(name), Name: name}, image(t, f.cli))
}

// usageOf samples env until ok holds for its service, or fails after a
// generous deadline (the machine may be loaded).
func usageOf(t *testing.T, d *dockerhost.Deployer, env, service string, ok func(dockerhost.ServiceUsage) bool) dockerhost.ServiceUsage {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last dockerhost.ServiceUsage
	for {
		u, err := d.Usage(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range u.Services {
			if s.Service == service {
				last = s
				if ok(s) {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s never as wanted; last sample: %+v", service, env, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestUsageOfABusyService(t *testing.T) {
	f := newFixture(t)
	st := f.deployUsage(t, "usage/busy")
	ctx := context.Background()

	first, err := f.d.Usage(ctx, st.Env)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(first.Services); got != 3 || first.Services[0].Service != "burner" {
		t.Fatalf("usage lists %d services: %+v", got, first.Services)
	}
	// Several environments at once: those without a container are left out.
	many, err := f.d.UsageOf(ctx, []string{st.Env, "usage-nothing-here"})
	if err != nil || len(many) != 1 || len(many[st.Env].Services) != 3 {
		t.Errorf("UsageOf: %+v, %v; want the 3 services of %s only", many, err, st.Env)
	}
	b1 := first.Services[0]
	if b1.State != "running" || b1.Health != "none" || !b1.Up() || b1.Uptime(time.Now()) <= 0 {
		t.Errorf("burner's health: %+v", b1)
	}
	if b1.MemoryBytes == 0 || b1.MemoryBytes > 32<<20 {
		t.Errorf("burner uses %d bytes of memory; want more than 0, within its limit", b1.MemoryBytes)
	}
	if b1.MemoryLimitBytes != 32<<20 {
		t.Errorf("burner's memory limit: %d, want mem_limit 32m (%d)", b1.MemoryLimitBytes, 32<<20)
	}
	// It burns CPU: its CPU seconds grow, so its CPU percentage is above 0.
	b2 := usageOf(t, f.d, st.Env, "burner", func(u dockerhost.ServiceUsage) bool {
		return u.CPUSeconds > b1.CPUSeconds+0.05
	})
	if pct := b2.CPUPercent(b1); pct <= 0 || pct > 100*2+1 {
		t.Errorf("burner's CPU between samples: %.1f%% (%.2fs -> %.2fs in %s)", pct, b1.CPUSeconds, b2.CPUSeconds, b2.Read.Sub(b1.Read))
	}
	// A service without a limit reports the host's memory as its limit.
	web1 := usageOf(t, f.d, st.Env, "web", func(u dockerhost.ServiceUsage) bool { return u.MemoryBytes > 0 })
	if web1.MemoryLimitBytes <= 32<<20 {
		t.Errorf("web's memory limit: %d, want the host's", web1.MemoryLimitBytes)
	}

	// Traffic to its published port grows both of web's network counters.
	web, _ := st.Service("web")
	for range 5 {
		resp, err := http.Get("http://" + web.Addr() + "/blob")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != dockerhosttest.BlobSize {
			t.Fatalf("GET /blob: %s, %d bytes", resp.Status, n)
		}
	}
	web2 := usageOf(t, f.d, st.Env, "web", func(u dockerhost.ServiceUsage) bool {
		return u.NetworkTxBytes >= web1.NetworkTxBytes+5*dockerhosttest.BlobSize && u.NetworkRxBytes > web1.NetworkRxBytes
	})
	if rx, tx := web2.NetworkRates(web1); rx <= 0 || tx <= 0 {
		t.Errorf("web's network rates: rx %.0f B/s, tx %.0f B/s", rx, tx)
	}
}

func TestUsageShowsCrashesAndStops(t *testing.T) {
	f := newFixture(t)
	st := f.deployUsage(t, "usage/down")
	ctx := context.Background()

	// The crasher exits every two seconds and Docker restarts it.
	c := usageOf(t, f.d, st.Env, "crasher", func(u dockerhost.ServiceUsage) bool { return u.RestartCount >= 1 })
	if c.Service != "crasher" {
		t.Fatalf("crasher: %+v", c)
	}

	// A stopped container is down: exited, no resource use.
	burner, _ := st.Service("burner")
	timeout := 0
	if _, err := f.cli.ContainerStop(ctx, burner.Container, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	b := usageOf(t, f.d, st.Env, "burner", func(u dockerhost.ServiceUsage) bool { return u.State == "exited" })
	if b.Up() || b.Uptime(time.Now()) != 0 || b.CPUSeconds != 0 || b.ExitCode == 0 {
		t.Errorf("stopped burner: %+v; want down, exit code of SIGKILL, no usage", b)
	}
}

func TestUsageReportsDockerHealthChecks(t *testing.T) {
	f := newFixture(t)
	base := testenv.BusyboxImage(t, f.cli)
	_, registry := registrytest.Start(t, nil)
	spec := dockerhost.Spec{Env: "usage-health"}
	// Images whose HEALTHCHECK passes and fails; pushed, to be pinned.
	for check, service := range map[string]string{"true": "healthy", "false": "unhealthy"} {
		tag := "slipway-test/health-" + check
		testenv.BuildImage(t, f.cli, tag, fmt.Sprintf("FROM %s\nHEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD [%q]\n", base, check))
		ref := registry + "/usage/health-" + check + ":1"
		testenv.PushImage(t, f.cli, tag, ref)
		spec.Services = append(spec.Services, compose.Service{Name: service, Image: ref, Command: []string{"sleep", "3600"}})
	}
	t.Cleanup(func() {
		if err := f.d.Teardown(context.Background(), spec.Env); err != nil {
			t.Error(err)
		}
	})
	if _, err := f.d.Deploy(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if u := usageOf(t, f.d, spec.Env, "healthy", func(u dockerhost.ServiceUsage) bool { return u.Health != "starting" }); u.Health != "healthy" || !u.Up() {
		t.Errorf("service with a passing health check: %+v", u)
	}
	if u := usageOf(t, f.d, spec.Env, "unhealthy", func(u dockerhost.ServiceUsage) bool { return u.Health != "starting" }); u.Health != "unhealthy" || u.Up() || u.State != "running" {
		t.Errorf("service with a failing health check: %+v; want running but unhealthy, not up", u)
	}
}

// BenchmarkUsageOf is a sampler pass over four environments of three
// services each. The engine answers stats once a second, so a pass takes
// about a second when its requests are in flight together, not one per
// usageConcurrency containers.
func BenchmarkUsageOf(b *testing.B) {
	f := newFixture(b)
	var envs []string
	for i := range 4 {
		spec := dockerhost.Spec{Env: fmt.Sprintf("usage-bench-%d", i), Name: fmt.Sprintf("usage/bench-%d", i)}
		dockerhosttest.DeployUsage(b, f.cli, f.d, spec, image(b, f.cli))
		envs = append(envs, spec.Env)
	}
	ctx := context.Background()
	for b.Loop() {
		all, err := f.d.UsageOf(ctx, envs)
		if err != nil || len(all) != len(envs) {
			b.Fatalf("UsageOf: %+v, %v", all, err)
		}
	}
}
