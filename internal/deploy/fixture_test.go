package deploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/embedded/embeddedtest"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

const domain = "rollout.test"

// appCompose is one exposed service whose image's CGI answers $STATUS
// with the body $MARK on /cgi-bin/app.
const appCompose = `
services:
  web:
    image: ${IMAGE}
    mem_limit: 48m
    x-slipway:
      expose: true
      main: true
      port: 8080
      health: /healthz
`

// appDockerfile is the app: the CGI script is built once (a cached layer),
// the ENV after it makes each version its own image and digest.
const appDockerfile = `FROM %s
RUN mkdir -p /www/cgi-bin && echo ok > /www/healthz && printf '#!/bin/sh\nprintf "Status: %%%%s\\r\\nContent-Type: text/plain\\r\\n\\r\\n%%%%s\\n" "$STATUS" "$MARK"\n' > /www/cgi-bin/app && chmod +x /www/cgi-bin/app
ENV MARK=%s STATUS=%d
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
`

// appPath is where the app answers.
const appPath = "/cgi-bin/app"

// images are the app's versions, built and pushed once, by digest: v1, a
// good v2 and a bad v2 that answers 500 (its health check passes).
type images struct {
	v1, v2, bad string
}

var (
	imagesOnce sync.Once
	built      images
)

func appImages(t *testing.T, cli *client.Client) images {
	t.Helper()
	imagesOnce.Do(func() {
		bb := testenv.BusyboxImage(t, cli)
		// The registry goes with the first test: a rollout pulls a tag
		// again, but the engine keeps the images by digest.
		_, reg := registrytest.Start(t, nil)
		ref := func(mark string, status int) string {
			local := testenv.BuildImage(t, cli, "slipway-test/rollout-app:"+mark, fmt.Sprintf(appDockerfile, bb, mark, status))
			pushed := reg + "/rollout/app:" + mark
			testenv.PushImage(t, cli, local, pushed)
			img, err := cli.ImageInspect(context.Background(), pushed)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range img.RepoDigests {
				if strings.HasPrefix(d, reg+"/rollout/app@") {
					return d
				}
			}
			t.Fatalf("no digest of %s after its push: %v", pushed, img.RepoDigests)
			return ""
		}
		built = images{v1: ref("v1", 200), v2: ref("v2", 200), bad: ref("bad", 500)}
	})
	if built.v1 == "" {
		t.Fatal("no app images")
	}
	return built
}

type fixture struct {
	cli    *client.Client
	host   *dockerhost.Deployer
	proxy  *embedded.Router
	runner *deploy.Runner
	images images
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cli := testenv.Docker(t)
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 33040, High: 33999})
	if err != nil {
		t.Fatal(err)
	}
	r := embeddedtest.Shared(t)
	host, err := dockerhost.New(dockerhost.Options{
		Client: cli, Ports: alloc, Router: r, Hostnames: proxy.Hostnames{Domain: domain},
		HealthTimeout: 30 * time.Second, StopTimeout: time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := deploy.New(deploy.Options{Host: host, Router: r, Metrics: r, StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{cli: cli, host: host, proxy: r, runner: runner, images: appImages(t, cli)}
}

// target is environment name running image with strategy; the test tears
// it down at the end.
func (f *fixture) target(t *testing.T, name, image string, s deploy.Strategy) deploy.Target {
	t.Helper()
	env, err := compose.Parse(context.Background(), "compose.yaml", []byte(appCompose), map[string]string{"IMAGE": image})
	if err != nil {
		t.Fatal(err)
	}
	tg := deploy.Target{Name: name, Services: env.Services, Strategy: s}
	t.Cleanup(func() {
		if err := f.host.Teardown(context.Background(), tg.Env()); err != nil {
			t.Error(err)
		}
	})
	return tg
}

// hostOf is the hostname of the target's app.
func hostOf(tg deploy.Target) string { return tg.Env() + "." + domain }

// answer is one response a client got.
type answer struct {
	code int
	body string
	err  error
}

func (a answer) String() string { return fmt.Sprintf("%d %q %v", a.code, a.body, a.err) }

// hammer is clients asking the app through the proxy until Stop.
type hammer struct {
	stop    atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []answer
}

func (f *fixture) hammer(t *testing.T, host string, clients int) *hammer {
	t.Helper()
	h := &hammer{}
	for range clients {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for !h.stop.Load() {
				a := f.get(c, host)
				h.mu.Lock()
				h.answers = append(h.answers, a)
				h.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { h.Stop() })
	return h
}

// Stop stops the clients and returns every answer, in the order they came.
func (h *hammer) Stop() []answer {
	h.stop.Store(true)
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.answers
}

func (h *hammer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.answers)
}

// waitFor waits until the clients got n more answers.
func (h *hammer) waitFor(t *testing.T, n int) {
	t.Helper()
	want := h.count() + n
	deadline := time.Now().Add(60 * time.Second)
	for h.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("clients got %d answers in 60s, want %d", h.count(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) get(c *http.Client, host string) answer {
	code, body, err := proxytest.Get(c, "http://"+f.proxy.Addr()+appPath, host)
	return answer{code, strings.TrimSpace(body), err}
}

// serves asserts that n requests all get 200 with body want.
func (f *fixture) serves(t *testing.T, host, want string, n int) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	for range n {
		if a := f.get(c, host); a.err != nil || a.code != 200 || a.body != want {
			t.Fatalf("GET %s%s = %s, want 200 %q", host, appPath, a, want)
		}
	}
}

// tally counts answers by "code body", errors as "error".
func tally(answers []answer) map[string]int {
	out := map[string]int{}
	for _, a := range answers {
		if a.err != nil {
			out["error"]++
			continue
		}
		out[fmt.Sprintf("%d %s", a.code, a.body)]++
	}
	return out
}
