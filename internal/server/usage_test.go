package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/dockerhost/dockerhosttest"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// usageServer is a real server running environments on the real Docker
// engine behind its embedded Caddy, sampling every 300ms, with the
// environment review/usage of project shop deployed from
// dockerhosttest.UsageCompose.
func usageServer(t *testing.T) (*Server, store.Environment, dockerhost.Status) {
	t.Helper()
	cli := testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	proxyAddr := testenv.FreeAddr(t)
	s := uiServer(t, "", func(c *Config) {
		c.Environments = EnvironmentsConfig{Enabled: true, Ports: "38040-38999", UsageInterval: 300 * time.Millisecond}
		c.Proxy.Embedded.Listen = proxyAddr
		c.Proxy.Domain = "usage.test"
	})
	ctx := context.Background()
	p := uiProject(t, s, "shop", t.TempDir())
	e, err := s.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "review/usage"})
	if err != nil {
		t.Fatal(err)
	}
	// The image comes from the server's registry, so it has a digest.
	ref := s.Addr() + "/shop/busybox:1"
	testenv.PushImage(t, cli, testenv.BusyboxImage(t, cli), ref)
	st := dockerhosttest.DeployUsage(t, cli, s.Envs.Deployer, dockerhost.Spec{Env: s.Envs.HostKey(p.ID, e.Slug), HostSlug: e.Slug, Name: e.Name}, ref)
	return s, e, st
}

type apiUsage struct {
	Project     string            `json:"project"`
	Environment string            `json:"environment"`
	State       string            `json:"state"`
	Services    []apiServiceUsage `json:"services"`
}

type apiServiceUsage struct {
	Service          string  `json:"service"`
	State            string  `json:"state"`
	Up               bool    `json:"up"`
	CPUPercent       float64 `json:"cpu_percent"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	MemoryBytes      uint64  `json:"memory_bytes"`
	MemoryLimitBytes uint64  `json:"memory_limit_bytes"`
	NetworkRxBytes   uint64  `json:"network_rx_bytes"`
	NetworkTxBytes   uint64  `json:"network_tx_bytes"`
	NetworkTxPerSec  float64 `json:"network_tx_bytes_per_second"`
	History          []any   `json:"history"`
}

func (u apiUsage) service(name string) (apiServiceUsage, bool) {
	for _, s := range u.Services {
		if s.Service == name {
			return s, true
		}
	}
	return apiServiceUsage{}, false
}

// getUsage asks the API for an environment's usage, as the CLI does.
func getUsage(t *testing.T, s *Server, env string) apiUsage {
	t.Helper()
	resp, err := http.Get(s.URL() + "/api/projects/shop/environments/" + url.PathEscape(env) + "/usage")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u apiUsage
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&u) != nil {
		t.Fatalf("GET usage of %s: %s", env, resp.Status)
	}
	return u
}

// waitUsage polls the API until ok holds, with a generous deadline.
func waitUsage(t *testing.T, s *Server, what string, ok func(apiUsage) bool) apiUsage {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		u := getUsage(t, s, "review/usage")
		if ok(u) {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %s: %+v", what, u)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metricsText(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestEnvironmentUsageAPIMetricsAndPage: a deployed environment's services
// show their CPU, memory and network in the API, on /metrics and on its
// page in Chromium; once it is stopped, its series are gone.
func TestEnvironmentUsageAPIMetricsAndPage(t *testing.T) {
	s, e, st := usageServer(t)
	u := waitUsage(t, s, "the three services, the burner's CPU above 0 with a history", func(u apiUsage) bool {
		b, ok := u.service("burner")
		return ok && b.CPUPercent > 0 && len(b.History) >= 2 && len(u.Services) == 3
	})
	b, _ := u.service("burner")
	if u.Project != "shop" || u.Environment != "review/usage" || u.State != store.EnvAvailable || len(u.Services) != 3 {
		t.Errorf("usage: %+v", u)
	}
	if !b.Up || b.State != "running" || b.MemoryBytes == 0 || b.MemoryLimitBytes != 32<<20 || b.CPUSeconds <= 0 {
		t.Errorf("burner: %+v; want up, memory in use, its 32 MiB limit, CPU seconds", b)
	}
	// The same environment by its slug and by its ID.
	for _, ref := range []string{e.Slug, fmt.Sprint(e.ID)} {
		if got := getUsage(t, s, ref); got.Environment != "review/usage" {
			t.Errorf("usage by %q: %+v", ref, got)
		}
	}

	// Traffic through the proxy: web's counters grow.
	web, _ := st.Service("web")
	before, _ := u.service("web")
	for range 5 {
		code, body, err := proxytest.Get(http.DefaultClient, "http://"+s.ProxyAddr()+"/blob", web.Host)
		if err != nil || code != 200 || len(body) != dockerhosttest.BlobSize {
			t.Fatalf("GET /blob through the proxy: %d, %d bytes, %v", code, len(body), err)
		}
	}
	waitUsage(t, s, "web's network counters grow", func(u apiUsage) bool {
		w, _ := u.service("web")
		return w.NetworkTxBytes >= before.NetworkTxBytes+5*dockerhosttest.BlobSize && w.NetworkRxBytes > before.NetworkRxBytes
	})

	// Prometheus sees the same.
	series := `{environment="review/usage",project="shop",service="burner"}`
	m := metricsText(t, s)
	for _, name := range []string{"slipway_environment_cpu_seconds_total", "slipway_environment_memory_bytes",
		"slipway_environment_network_receive_bytes_total", "slipway_environment_network_transmit_bytes_total"} {
		if !strings.Contains(m, name+series+" ") {
			t.Errorf("/metrics lacks %s%s", name, series)
		}
	}
	if !strings.Contains(m, "slipway_environment_up"+series+" 1") || !strings.Contains(m, `slipway_environment_memory_limit_bytes`+series+" 3.3554432e+07") {
		t.Errorf("/metrics: burner not up or without its limit:\n%s", grepLines(m, "slipway_environment_"))
	}

	// Its page in a real browser: each service's health, CPU and memory,
	// with their lines.
	tab := uiBrowser(t)
	uiGo(t, tab, fmt.Sprintf("%s/environments/%d", s.URL(), e.ID))
	uiPoll(t, tab, "the burner's row", `document.querySelector('tr[data-service="burner"]') !== null`, 10*time.Second)
	cpu := uiEval[string](t, tab, `document.querySelector('tr[data-service="burner"] td.cpu .value').textContent`)
	mem := uiEval[string](t, tab, `document.querySelector('tr[data-service="burner"] td.memory').textContent`)
	health := uiEval[string](t, tab, `document.querySelector('tr[data-service="burner"] .badge').textContent`)
	var pct float64
	if _, err := fmt.Sscanf(cpu, "%f%%", &pct); err != nil || pct <= 0 {
		t.Errorf("burner's CPU on the page: %q", cpu)
	}
	if !strings.Contains(mem, "MiB") && !strings.Contains(mem, "KiB") || !strings.Contains(mem, "of 32.0 MiB") {
		t.Errorf("burner's memory on the page: %q", mem)
	}
	if health != "up" {
		t.Errorf("burner's health on the page: %q", health)
	}
	if n := uiEval[int](t, tab, `document.querySelectorAll('tr[data-service="burner"] svg.spark polyline').length`); n != 4 {
		t.Errorf("%d sparklines for the burner, want 4", n)
	}
	if w := uiEval[float64](t, tab, `document.querySelector('tr[data-service="burner"] svg.spark-cpu').getBoundingClientRect().width`); w < 50 {
		t.Errorf("the CPU sparkline is %v px wide", w)
	}
	uiScreenshot(t, tab, uiArtifacts(t), "environment-usage")
	// The list links to it and sums each service up.
	uiGo(t, tab, s.URL()+"/environments")
	summary := uiEval[string](t, tab, `document.querySelector("td.usage-summary").textContent`)
	if !strings.Contains(summary, "burner") || !strings.Contains(summary, "CPU ") || !strings.Contains(summary, "/s out") || !strings.Contains(summary, "web") {
		t.Errorf("environments list's services: %q", summary)
	}
	uiScreenshot(t, tab, uiArtifacts(t), "environments")

	// Stopped: its series go from /metrics, the API shows nothing running.
	if code := uiPost(t, s, fmt.Sprintf("/ui/environments/%d/stop", e.ID), nil).Code; code != http.StatusSeeOther {
		t.Fatalf("stop: %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Contains(metricsText(t, s), `environment="review/usage"`) {
		if time.Now().After(deadline) {
			t.Fatalf("series of the stopped environment still on /metrics:\n%s", grepLines(metricsText(t, s), "review/usage"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if u := getUsage(t, s, "review/usage"); u.State != store.EnvStopped || len(u.Services) != 0 {
		t.Errorf("usage of the stopped environment: %+v", u)
	}
}

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestEnvironmentUsageErrors(t *testing.T) {
	s := uiServer(t, "")
	if code, body := uiGet(t, s, "/api/projects/shop/environments/x/usage"); code != http.StatusNotFound || !strings.Contains(body, "environments.enabled") {
		t.Errorf("usage without environments: %d %s", code, body)
	}
	// The page of an environment named like an attack escapes its name.
	p := uiProject(t, s, "shop", t.TempDir())
	e, err := s.Store.UpsertEnvironment(context.Background(), store.Environment{ProjectID: p.ID, Name: "review/" + hostile})
	if err != nil {
		t.Fatal(err)
	}
	code, body := uiGet(t, s, fmt.Sprintf("/environments/%d", e.ID))
	if code != 200 {
		t.Fatalf("GET /environments/%d: %d", e.ID, code)
	}
	must(t, "environment", body, "review/&lt;script&gt;", "This server does not run environments.")
	mustNot(t, "environment", body, hostile)
	if code, _ := uiGet(t, s, "/environments/999"); code != http.StatusNotFound {
		t.Errorf("a missing environment's page: %d", code)
	}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Environments: EnvironmentsConfig{Enabled: true, UsageInterval: -time.Second}}
	if _, err := New(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "environments.usage_interval -1s") {
		t.Errorf("a negative usage_interval: %v", err)
	}
}

// An environment is found by its ID, its name or its slug; a name made of
// digits (GitLab allows "2024") is not taken for an ID that is not there.
func TestProjectEnvironmentByIDNameOrSlug(t *testing.T) {
	s := uiServer(t, "")
	ctx := context.Background()
	p := uiProject(t, s, "shop", t.TempDir())
	review, err := s.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "review/a"})
	if err != nil {
		t.Fatal(err)
	}
	year, err := s.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "2024"})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]int64{
		fmt.Sprint(review.ID): review.ID, "review/a": review.ID, review.Slug: review.ID, "2024": year.ID,
	} {
		if e, err := s.projectEnvironment(ctx, p, ref); err != nil || e.ID != want {
			t.Errorf("environment %q: %d, %v; want %d", ref, e.ID, err, want)
		}
	}
	if _, err := s.projectEnvironment(ctx, p, "999"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("environment 999: %v, want not found", err)
	}
}
