// Package rollout measures what users of a `slipway deploy` target see
// during its rollouts: a real `slipway deploy serve` on the test Docker
// engine, images built locally and pushed to a real registry, and a
// loopback client asking through serve's embedded proxy at a fixed rate.
// Run it with bench/rollout/run.sh.
package rollout

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// Targets of issue 15: no failed request at 200 req/s during a promoted
// canary nor during a blue-green switch, and a bad canary off the routes
// within two analysis intervals of its first failure. By design the
// rollback comes max_failed_checks (2) intervals after the canary's first
// step plus the analysis' milliseconds: the users' first 500 comes a
// request gap (about 50ms at the canary's 10%) after that step, which is
// the margin this target has.
const (
	rate     = 200
	interval = 3 * time.Second
	maxBack  = 2 * interval
)

const (
	domain  = "rollout.bench"
	canaryT = "bench-canary"
	bgT     = "bench-bluegreen"
	appPath = "/cgi-bin/app"
)

// appDockerfile is the app (./app) with its answer: the ENV makes each
// version its own digest.
const appDockerfile = `FROM scratch
COPY app /app
ENV MARK=%s STATUS=%d
CMD ["/app"]
`

const composeFile = `services:
  web:
    image: ${IMAGE}
    mem_limit: 48m
    x-slipway: {expose: true, main: true, port: 8080, health: /healthz}
`

// configFile is deploy.yaml with the canary target on canaryImage and the
// blue-green one on bgImage: serve reads it again at each run.
const configFile = `domain: ` + domain + `
ports: 35040-35999
proxy: {listen: %q, control: %q}
targets:
  ` + canaryT + `:
    compose: compose.yaml
    vars: {IMAGE: %q}
    strategy: canary
    drain: 1s
    canary: {steps: [10, 25, 50, 100], interval: %s, min_requests: 10, success_rate: 0.99, max_failed_checks: 2}
  ` + bgT + `:
    compose: compose.yaml
    vars: {IMAGE: %q}
    strategy: blue-green
    drain: 1s
    blue_green: {smoke: ` + appPath + `, keep: 1h}
`

// bench is one serve and its config folder.
type bench struct {
	b               *testing.B
	dir, bin        string
	listen, control string
	logs            *testenv.Buffer // serve's
}

func BenchmarkRollouts(b *testing.B) {
	cli := testenv.Docker(b)
	b.Setenv("DOCKER_HOST", testenv.DockerHost())
	v1, v2, bad := pushApps(b, cli)

	x := &bench{b: b, dir: b.TempDir(), listen: testenv.FreeAddr(b), control: testenv.FreeAddr(b)}
	x.bin = filepath.Join(b.TempDir(), "slipway")
	if out, err := exec.Command("go", "build", "-o", x.bin, "../../cmd/slipway").CombinedOutput(); err != nil {
		b.Fatalf("building slipway: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(x.dir, "compose.yaml"), []byte(composeFile), 0o644); err != nil {
		b.Fatal(err)
	}
	teardown(b, cli, canaryT, bgT)
	x.config(v1, v1)
	x.serve()
	x.run(canaryT, 0)
	x.run(bgT, 0)
	x.expectServes(canaryT, "v1")
	x.expectServes(bgT, "v1")

	for b.Loop() {
		// A good canary, promoted: every user gets a 2xx.
		x.config(v2, v1)
		canary := x.during(canaryT, func() { x.run(canaryT, 0) })
		x.expectServes(canaryT, "v2")

		// A blue-green switch: every user gets a 2xx.
		x.config(v2, v2)
		switched := x.during(bgT, func() { x.run(bgT, 0) })
		x.expectServes(bgT, "v2")

		// A bad canary: from its first 500 to its last, at most two
		// analysis intervals; then v2 alone again.
		x.config(bad, v2)
		logged := len(x.logs.String())
		rolled := x.during(canaryT, func() { x.run(canaryT, 1) })
		x.expectServes(canaryT, "v2")
		decided := x.stepToRollback(x.logs.String()[logged:])

		// A blue-green rollback within keep: a weight change, nobody fails.
		switchedBack := x.during(bgT, func() { x.cli0("deploy", "rollback", "--target", bgT) })
		x.expectServes(bgT, "v1")

		back := rolled.badWindow()
		b.ReportMetric(float64(canary.failed()), "failed-canary")
		b.ReportMetric(float64(switched.failed()), "failed-bluegreen")
		b.ReportMetric(back.Seconds(), "s-bad-to-rollback")
		b.ReportMetric(decided.Seconds(), "s-step-to-rollback")
		b.ReportMetric(float64(rolled.failed()), "failed-bad-canary")
		b.ReportMetric(float64(switchedBack.failed()), "failed-bluegreen-rollback")
		fmt.Printf("promoted canary:   %s\n", canary)
		fmt.Printf("blue-green switch: %s\n", switched)
		fmt.Printf("bad canary:        %s\n", rolled)
		fmt.Printf("blue-green rollback: %s\n", switchedBack)
		fmt.Printf("bad canary: first 500 to last 500 %s (target <= 2 intervals = %s); serve: first step to rollback %s\n",
			back.Round(time.Millisecond), maxBack, decided)
		if canary.failed() != 0 {
			b.Errorf("promoted canary: %d failed requests, target 0", canary.failed())
		}
		if switched.failed() != 0 {
			b.Errorf("blue-green switch: %d failed requests, target 0", switched.failed())
		}
		if back <= 0 || back > maxBack {
			b.Errorf("bad canary: %s from its first failure to its last, target <= %s", back.Round(time.Millisecond), maxBack)
		}
		if switchedBack.failed() != 0 {
			b.Errorf("blue-green rollback: %d failed requests, want 0", switchedBack.failed())
		}
		for _, t := range []*tally{canary, switched, rolled, switchedBack} {
			if got := t.rate(); got < rate*0.95 {
				b.Errorf("the load reached %.0f req/s, want %d: the figures are not at the rate asked", got, rate)
			}
		}
	}
	x.cli0("deploy", "remove", canaryT)
	x.cli0("deploy", "remove", bgT)
}

// pushApps builds v1, a good v2 and a bad version (500 on appPath, a
// healthy health check), pushes them to a registry and returns their tags.
func pushApps(b *testing.B, cli *client.Client) (v1, v2, bad string) {
	bin := filepath.Join(b.TempDir(), "app")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./app")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the app: %v\n%s", err, out)
	}
	app, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	_, reg := registrytest.Start(b, nil)
	push := func(mark string, status int) string {
		local := testenv.BuildContext(b, cli, "slipway-bench/rollout-app:"+mark, map[string][]byte{
			"Dockerfile": fmt.Appendf(nil, appDockerfile, mark, status), "app": app})
		ref := reg + "/bench/rollout-app:" + mark
		testenv.PushImage(b, cli, local, ref)
		b.Cleanup(func() { // the tag names this run's registry, gone after it
			_, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{})
		})
		return ref
	}
	return push("v1", 200), push("v2", 200), push("bad", 500)
}

func (x *bench) config(canaryImage, bgImage string) {
	c := fmt.Sprintf(configFile, x.listen, x.control, canaryImage, interval, bgImage)
	if err := os.WriteFile(filepath.Join(x.dir, "deploy.yaml"), []byte(c), 0o644); err != nil {
		x.b.Fatal(err)
	}
}

// serve starts `slipway deploy serve`, stopped (Ctrl-C) at the end.
func (x *bench) serve() {
	cmd := exec.Command(x.bin, "deploy", "serve", "--config", "deploy.yaml")
	cmd.Dir = x.dir
	logs := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	x.logs = logs
	if err := cmd.Start(); err != nil {
		x.b.Fatal(err)
	}
	x.b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		if x.b.Failed() {
			x.b.Logf("slipway deploy serve:\n%s", logs)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "deploy serve: ready") {
		if time.Now().After(deadline) {
			x.b.Fatalf("slipway deploy serve not ready after 60s:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs slipway in the config folder and returns its output and exit
// status.
func (x *bench) cli(args ...string) (string, int) {
	cmd := exec.Command(x.bin, args...)
	cmd.Dir = x.dir
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		x.b.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// cli0 runs slipway and fails unless it exits 0.
func (x *bench) cli0(args ...string) {
	if out, code := x.cli(args...); code != 0 {
		x.b.Fatalf("slipway %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
}

// stepToRollback reads serve's log of a canary rolled back: the time from
// its first step (the canary gets traffic) to the rollback (the routes go
// back to the stable generation at once).
func (x *bench) stepToRollback(logs string) time.Duration {
	var step, back time.Time
	for _, line := range strings.Split(logs, "\n") {
		at, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		at, _, _ = strings.Cut(at, " ")
		t, err := time.Parse(time.RFC3339Nano, at)
		switch {
		case err != nil:
			continue
		case strings.Contains(line, `msg="rollout: canary step"`) && step.IsZero():
			step = t
		case strings.Contains(line, `msg="rollout: canary rolled back"`):
			back = t
		}
	}
	if step.IsZero() || back.IsZero() {
		x.b.Fatalf("no canary step and rollback in serve's log:\n%s", logs)
	}
	return back.Sub(step)
}

// run rolls target out and fails unless `deploy run` exits with want.
func (x *bench) run(target string, want int) {
	if out, code := x.cli("deploy", "run", "--target", target); code != want {
		x.b.Fatalf("deploy run --target %s: exit %d, want %d\n%s", target, code, want, out)
	}
}

// during runs fn under load on target's hostname and returns what the
// users got, from a second before fn to a second after it (the drain).
func (x *bench) during(target string, fn func()) *tally {
	l := startLoad("http://"+x.listen+appPath, target+"."+domain, rate)
	var t *tally
	defer func() {
		if t == nil { // fn failed the benchmark: stop the load all the same
			l.stop()
		}
	}()
	time.Sleep(time.Second) // a margin of load before the rollout, not a wait on a condition
	fn()
	time.Sleep(time.Second)
	t = l.stop()
	return t
}

// expectServes asserts that target's users now get want alone.
func (x *bench) expectServes(target, want string) {
	l := startLoad("http://"+x.listen+appPath, target+"."+domain, rate)
	time.Sleep(500 * time.Millisecond)
	t := l.stop()
	if t.total == 0 || t.bodies[want] != t.total {
		x.b.Fatalf("%s after the rollout: %s, want only 200 %q", target, t, want)
	}
}

// teardown removes the targets' containers, network and routes at the end,
// whatever `deploy remove` did.
func teardown(b *testing.B, cli *client.Client, targets ...string) {
	b.Cleanup(func() {
		alloc, err := ports.New(b.TempDir(), ports.DefaultRange)
		if err != nil {
			b.Fatal(err)
		}
		d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc})
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range targets {
			if err := d.Teardown(context.Background(), t); err != nil {
				b.Error(err)
			}
		}
	})
}
