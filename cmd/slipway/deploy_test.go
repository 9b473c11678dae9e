package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// pushApp builds an httpd image answering mark on / and pushes it as ref.
func pushApp(t *testing.T, cli *client.Client, ref, mark string) {
	t.Helper()
	local := testenv.BuildImage(t, cli, "slipway-test/deploy-cli:"+mark, fmt.Sprintf(
		"FROM %s\nRUN mkdir -p /www && echo %s > /www/index.html && echo ok > /www/healthz\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
		testenv.BusyboxImage(t, cli), mark))
	testenv.PushImage(t, cli, local, ref)
}

// The CLI's whole path: serve, run a target, promote its digest to another
// after the tag moved, status and history; a bad config names its line.
func TestDeployCLIRunPromoteStatusHistory(t *testing.T) {
	cli := testenv.Docker(t)
	_, reg := registrytest.Start(t, nil)
	tag := reg + "/deploy-cli/app:latest"
	pushApp(t, cli, tag, "cli-v1")

	dir := t.TempDir()
	listen, control := testenv.FreeAddr(t), testenv.FreeAddr(t)
	compose := "services:\n  web:\n    image: ${IMAGE}\n    x-slipway: {expose: true, main: true, port: 8080, health: /healthz}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`domain: cli.test
ports: 34040-34999
proxy: {listen: %q, control: %q}
targets:
  cli-dev:
    compose: compose.yaml
    vars: {IMAGE: %q}
    strategy: rolling
    drain: 100ms
  cli-prod:
    compose: compose.yaml
    vars: {IMAGE: %q}
    strategy: blue-green
    drain: 100ms
    blue_green: {smoke: /, keep: 1h}
`, listen, control, tag, tag)
	if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	teardownDeploy(t, cli, "cli-dev", "cli-prod")

	logs := startDeployServe(t, dir)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "deploy serve: ready") {
		if time.Now().After(deadline) {
			t.Fatalf("slipway deploy serve not ready after 60s:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, stderr, code := slipway(t, dir, "deploy", "run", "--target", "cli-dev")
	if code != 0 || !strings.Contains(out, "cli-dev: rolling generation 1 succeeded") {
		t.Fatalf("deploy run: exit %d\n%s%s", code, out, stderr)
	}
	pushApp(t, cli, tag, "cli-v2") // the tag moves on

	out, stderr, code = slipway(t, dir, "deploy", "promote", "--from", "cli-dev", "--to", "cli-prod")
	if code != 0 || !strings.Contains(out, "cli-prod: blue-green generation 1 succeeded (promoted from cli-dev)") {
		t.Fatalf("deploy promote: exit %d\n%s%s", code, out, stderr)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if code, body, err := proxytest.Get(c, "http://"+listen+"/", "cli-prod.cli.test"); err != nil || code != 200 || strings.TrimSpace(body) != "cli-v1" {
		t.Fatalf("cli-prod through the proxy = %d %q, %v; want the promoted cli-v1, not the moved tag", code, body, err)
	}

	out, _, code = slipway(t, dir, "deploy", "status")
	if code != 0 || !strings.Contains(out, "cli-prod") || !strings.Contains(out, "stable") || !strings.Contains(out, "@sha256:") {
		t.Fatalf("deploy status: exit %d\n%s", code, out)
	}
	out, _, code = slipway(t, dir, "deploy", "status", "--json")
	var status []struct {
		Target string `json:"target"`
		State  struct {
			Stable int `json:"stable"`
		} `json:"state"`
		Generations []struct {
			Number   int    `json:"number"`
			Role     string `json:"role"`
			Services []struct {
				Name, Image, State, Host string
			} `json:"services"`
		} `json:"generations"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &status) != nil || len(status) != 2 {
		t.Fatalf("deploy status --json: exit %d\n%s", code, out)
	}
	for _, st := range status {
		if st.State.Stable != 1 || len(st.Generations) != 1 || st.Generations[0].Role != "stable" || len(st.Generations[0].Services) != 1 {
			t.Fatalf("deploy status --json: %+v", st)
		}
		s := st.Generations[0].Services[0]
		if s.Name != "web" || !strings.Contains(s.Image, "@sha256:") || s.State != "running" || s.Host != st.Target+".cli.test" {
			t.Errorf("deploy status --json: %s's service %+v", st.Target, s)
		}
	}
	out, _, code = slipway(t, dir, "deploy", "history", "--target", "cli-prod", "--json")
	var hist []deploy.Rollout
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 1 || hist[0].PromotedFrom != "cli-dev" || !strings.Contains(hist[0].Images["web"], "@sha256:") {
		t.Fatalf("deploy history: exit %d\n%s", code, out)
	}

	// No previous version: the rollback says so and fails.
	out, stderr, code = slipway(t, dir, "deploy", "rollback", "--target", "cli-prod")
	if code == 0 || !strings.Contains(stderr, "no earlier successful rollout") {
		t.Fatalf("deploy rollback without a previous version: exit %d\n%s%s", code, out, stderr)
	}

	// The manual gates go to serve, which runs the canaries.
	for _, action := range []string{"pause", "resume"} {
		if out, stderr, code := slipway(t, dir, "deploy", action, "cli-prod"); code != 0 || out != "cli-prod: "+action+"\n" {
			t.Fatalf("deploy %s: exit %d\n%s%s", action, code, out, stderr)
		}
	}
	if _, stderr, code := slipway(t, dir, "deploy", "approve", "cli-prod"); code == 0 || !strings.Contains(stderr, "no canary in progress to approve") {
		t.Fatalf("deploy approve with no canary: exit %d\n%s", code, stderr)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("targets:\n  x:\n    compose: c.yaml\n    strategy: big-bang\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = slipway(t, dir, "deploy", "run", "--config", "bad.yaml", "--target", "x")
	if code == 0 || !strings.Contains(stderr, "bad.yaml:4:15: targets.x.strategy") {
		t.Fatalf("deploy run with a bad config: exit %d\n%s", code, stderr)
	}
}

// A reconcile interval of zero would reconcile in a busy loop: serve
// refuses it before it starts anything.
func TestDeployServeRefusesAReconcileIntervalOfZero(t *testing.T) {
	dir := t.TempDir()
	config := fmt.Sprintf("proxy: {listen: %q, control: %q}\ntargets:\n  x: {compose: c.yaml, strategy: rolling}\n",
		testenv.FreeAddr(t), testenv.FreeAddr(t))
	if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serve := exec.CommandContext(ctx, slipwayBin, "deploy", "serve", "--reconcile-every", "0")
	serve.Dir = dir
	out, err := serve.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("deploy serve --reconcile-every 0 still ran after 30s:\n%.2000s", out)
	}
	if err == nil || !strings.Contains(string(out), "--reconcile-every") {
		t.Fatalf("deploy serve --reconcile-every 0: %v\n%s", err, out)
	}
}

// startDeployServe starts slipway deploy serve on dir's deploy.yaml,
// stopped at the end of the test; its output is returned.
func startDeployServe(t *testing.T, dir string) *testenv.Buffer {
	t.Helper()
	serve := exec.Command(slipwayBin, "deploy", "serve", "--config", "deploy.yaml")
	serve.Dir = dir
	logs := &testenv.Buffer{}
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("slipway deploy serve:\n%s", logs)
		}
	})
	return logs
}

// teardownDeploy removes the environments at the end of the test.
func teardownDeploy(t *testing.T, cli *client.Client, envs ...string) {
	t.Cleanup(func() {
		alloc, err := ports.New(t.TempDir(), ports.DefaultRange)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc})
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range envs {
			if err := d.Teardown(context.Background(), env); err != nil {
				t.Error(err)
			}
		}
	})
}

// A new user's walk: deploy run at once after deploy serve & (it waits for
// serve instead of "connection refused"), a changed image in deploy.yaml
// (serve rolls out the file as it is now, not as it was at its start), a
// changed proxy address (refused, named), deploy remove (no route, no
// container), and the next rollout's generation number (not reused).
func TestDeployServeTakesTheConfigAsItIsNow(t *testing.T) {
	cli := testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	_, reg := registrytest.Start(t, nil)
	v1, v2 := reg+"/deploy-now/app:v1", reg+"/deploy-now/app:v2"
	pushApp(t, cli, v1, "now-v1")
	pushApp(t, cli, v2, "now-v2")
	dir := t.TempDir()
	listen, control := testenv.FreeAddr(t), testenv.FreeAddr(t)
	gitopsWriteFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  web:\n    image: ${IMAGE}\n    x-slipway: {expose: true, main: true, port: 8080, health: /healthz}\n")
	config := func(image, listen string) {
		gitopsWriteFile(t, filepath.Join(dir, "deploy.yaml"), fmt.Sprintf(`domain: now.test
ports: 35040-35999
proxy: {listen: %q, control: %q}
targets:
  cli-now:
    compose: compose.yaml
    vars: {IMAGE: %q}
    strategy: rolling
    drain: 100ms
`, listen, control, image))
	}
	config(v1, listen)
	teardownDeploy(t, cli, "cli-now")
	startDeployServe(t, dir)
	get := func() (int, string) {
		t.Helper()
		code, body, err := proxytest.Get(&http.Client{Timeout: 10 * time.Second}, "http://"+listen+"/", "cli-now.now.test")
		if err != nil {
			t.Fatal(err)
		}
		return code, strings.TrimSpace(body)
	}

	out, stderr, code := slipway(t, dir, "deploy", "run", "--target", "cli-now")
	if code != 0 || !strings.Contains(out, "cli-now: rolling generation 1 succeeded") {
		t.Fatalf("deploy run right after deploy serve &: exit %d\n%s%s", code, out, stderr)
	}
	config(v2, listen)
	out, stderr, code = slipway(t, dir, "deploy", "run", "--target", "cli-now")
	if code != 0 || !strings.Contains(out, "generation 2 succeeded") {
		t.Fatalf("deploy run after the image changed: exit %d\n%s%s", code, out, stderr)
	}
	if code, body := get(); code != 200 || body != "now-v2" {
		t.Fatalf("after the image changed in deploy.yaml, the app answers %d %q, want now-v2", code, body)
	}

	config(v2, testenv.FreeAddr(t))
	if out, stderr, code = slipway(t, dir, "deploy", "run", "--target", "cli-now"); code == 0 || !strings.Contains(stderr, "proxy.listen \""+listen+"\" is now") {
		t.Fatalf("deploy run after proxy.listen changed: exit %d\n%s%s; want it refused, naming the change", code, out, stderr)
	}
	config(v2, listen)

	if out, stderr, code = slipway(t, dir, "deploy", "remove", "cli-now"); code != 0 || !strings.Contains(out, "cli-now: removed") {
		t.Fatalf("deploy remove: exit %d\n%s%s", code, out, stderr)
	}
	if code, body := get(); code != 404 {
		t.Errorf("after deploy remove the proxy answers %d %q, want 404 (no route)", code, body)
	}
	if out, _, code = slipway(t, dir, "deploy", "status"); code != 0 || !strings.Contains(out, "not deployed") {
		t.Errorf("deploy status after remove: exit %d\n%s", code, out)
	}
	out, stderr, code = slipway(t, dir, "deploy", "run", "--target", "cli-now")
	if code != 0 || !strings.Contains(out, "cli-now: rolling generation 3 succeeded") {
		t.Fatalf("deploy run after remove: exit %d\n%s%s; want generation 3: 1 and 2 are in the history", code, out, stderr)
	}
}
