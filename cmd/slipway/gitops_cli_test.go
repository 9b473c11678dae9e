package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// gitopsApp answers $MESSAGE on / after delay seconds, and stops at once
// on SIGTERM.
func gitopsApp(image, delay string) string {
	return `services:
  web:
    image: ` + image + `
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep ` + delay + ` & wait; mkdir -p /www && echo $$MESSAGE > /www/index.html && httpd -f -p 8080 -h /www & wait"]
    x-slipway: {expose: true, port: 8080, health: /}
`
}

// TestGitopsReconcileCommand: `slipway gitops reconcile` deploys, then
// changes nothing (and `status` shows what it printed); killed with SIGKILL in the middle of a deploy, the next
// run converges to the new commit and leaves no container of the cut
// deploy; a broken app and a config mistake exit non-zero with their
// position.
func TestGitopsReconcileCommand(t *testing.T) {
	g := newGitopsSetup(t)
	one, two := g.push("one"), g.push("two")
	cli, dep, dir, cfg := g.cli, g.dep, g.dir, g.cfg
	g.commit(gitopsApp(one, "0"))
	// A relative state folder, as a user types it.
	args := []string{"gitops", "reconcile", "--config", cfg, "--state", "state", "--ports", "29500-29999"}

	out, errOut, code := slipway(t, dir, args...)
	if code != 0 || !strings.Contains(out, "web: Ready (Created)") {
		t.Fatalf("first reconcile: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := gitopsAnswer(t, out); got != "one" {
		t.Errorf("web answers %q, want one", got)
	}
	if out, errOut, code = slipway(t, dir, args...); code != 0 || !strings.Contains(out, "web: Ready (UpToDate)") {
		t.Fatalf("second reconcile: exit %d\n%s\n%s", code, out, errOut)
	}
	status, errOut, code := slipway(t, dir, "gitops", "status", "--state", "state")
	if code != 0 || status != out {
		t.Errorf("gitops status: exit %d\n%s\n%s\nwant what reconcile printed:\n%s", code, status, errOut, out)
	}
	// --json: the statuses, as gitops status --json reads them back.
	out, errOut, code = slipway(t, dir, append(args, "--json")...)
	var passed []gitops.DeploymentStatus
	if code != 0 || json.Unmarshal([]byte(out), &passed) != nil || len(passed) != 1 || passed[0].Name != dep ||
		len(passed[0].Apps) != 1 || passed[0].Apps[0].Condition != gitops.Ready {
		t.Fatalf("reconcile --json: exit %d\n%s\n%s", code, out, errOut)
	}
	if status, _, _ := slipway(t, dir, "gitops", "status", "--state", "state", "--json"); status != out {
		t.Errorf("reconcile --json printed\n%s\ngitops status --json reads back\n%s", out, status)
	}

	// A slow commit: the run is killed while the new container starts.
	g.commit(gitopsApp(two, "4"))
	cmd := exec.Command(slipwayBin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(gitopsContainers(t, cli, dep)) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the second generation never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	st, err := gitops.ReadStatus(filepath.Join(dir, "state"), dep)
	if err != nil || st.Apps[0].Condition != gitops.Reconciling {
		t.Errorf("status file after the kill: %+v, %v; want web Reconciling", st, err)
	}

	out, errOut, code = slipway(t, dir, args...)
	if code != 0 || !strings.Contains(out, "web: Ready (DriftCorrected)") || !strings.Contains(out, "interrupted deploy") {
		t.Fatalf("reconcile after the kill: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("reconcile after the kill:\n%s", out)
	if got := gitopsAnswer(t, out); got != "two" {
		t.Errorf("web answers %q, want two", got)
	}
	if left := gitopsContainers(t, cli, dep); len(left) != 1 {
		t.Errorf("containers after converging: %v, want the one of the last generation", left)
	}

	if _, errOut, code = slipway(t, dir, append(args, "--domain", "gitops.test")...); code == 0 || !strings.Contains(errOut, "--domain needs a proxy") {
		t.Errorf("--domain without a proxy: exit %d, stderr %q", code, errOut)
	}
	// A broken app fails the command with its position; web stays.
	g.commitApp("bad", "services:\n  bad:\n    image: "+one+"\n    x-slipway: {expose: yes-please}\n")
	out, errOut, code = slipway(t, dir, args...)
	if code == 0 || !strings.Contains(out, "bad: Stalled (InvalidSpec): apps/bad/compose.yaml:4:") ||
		!strings.Contains(out, "web: Ready (UpToDate)") || !strings.Contains(errOut, "1 of 2 apps failed: bad") {
		t.Errorf("a broken app: exit %d\n%s\n%s", code, out, errOut)
	}
	gitopsWriteFile(t, cfg, "sources: []\ndeployments: []\nimages: {}\n")
	if _, errOut, code = slipway(t, dir, args...); code == 0 || !strings.Contains(errOut, "slipway-gitops.yaml:3:1: images: unknown top-level key") {
		t.Errorf("a bad config: exit %d, stderr %q", code, errOut)
	}
}

// gitopsSetup is what the CLI tests share: images in a registry, a source
// repository, a config file naming a deployment of the test's own.
type gitopsSetup struct {
	t                    *testing.T
	cli                  *client.Client
	bb, reg              string
	dep, work, bare, dir string
	cfg                  string
}

func newGitopsSetup(t *testing.T) *gitopsSetup {
	g := &gitopsSetup{t: t, cli: testenv.Docker(t)}
	// The commands talk to the engine the test checks, not to the
	// default socket, as the other Docker tests of the CLI do.
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	g.bb = testenv.BusyboxImage(t, g.cli)
	_, g.reg = registrytest.Start(t, nil)
	g.dep = fmt.Sprintf("cli%x", time.Now().UnixNano()&0xffffff)
	t.Cleanup(func() { teardownGitops(t, g.cli, g.dep) })
	g.work = testenv.GitRepo(t, map[string]string{"README": "desired state"})
	g.bare = filepath.Join(t.TempDir(), "ops.git")
	testenv.Git(t, g.work, "clone", "-q", "--bare", g.work, g.bare)
	g.dir = t.TempDir()
	g.cfg = filepath.Join(g.dir, "slipway-gitops.yaml")
	gitopsWriteFile(t, g.cfg, `sources:
  - name: ops
    url: `+g.bare+`
    interval: 1s
deployments:
  - name: `+g.dep+`
    source: ops
    path: apps
imagePolicies: [{name: other-engineers-key}]
`)
	return g
}

// push builds the app answering message and pushes it; it returns its
// reference in the registry.
func (g *gitopsSetup) push(message string) string {
	local := testenv.BuildImage(g.t, g.cli, "slipway-test/gitops-cli:"+message, "FROM "+g.bb+"\nENV MESSAGE="+message+"\n")
	ref := g.reg + "/gitops-cli/app:" + message
	testenv.PushImage(g.t, g.cli, local, ref)
	g.t.Cleanup(func() { _, _ = g.cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
	return ref
}

// commit makes compose the app web's compose.yaml in the source.
func (g *gitopsSetup) commit(compose string) { g.commitApp("web", compose) }

// commitApp makes compose the app's compose.yaml in the source.
func (g *gitopsSetup) commitApp(app, compose string) {
	gitopsWriteFile(g.t, filepath.Join(g.work, "apps", app, "compose.yaml"), compose)
	testenv.Git(g.t, g.work, "add", "-A")
	testenv.Git(g.t, g.work, "commit", "-qm", app)
	testenv.Git(g.t, g.work, "push", "-q", g.bare, "main")
}

// TestGitopsRunCommand: `slipway gitops run` deploys, routes the app's
// hostname through its embedded proxy and keeps the state folder to itself
// while it runs; SIGINT ends it with exit code 0.
func TestGitopsRunCommand(t *testing.T) {
	g := newGitopsSetup(t)
	g.commit(gitopsApp(g.push("one"), "0"))
	state := filepath.Join(g.dir, "state")
	args := []string{"--config", g.cfg, "--state", state, "--ports", "29500-29999"}
	proxyAddr := testenv.FreeAddr(t)
	cmd := exec.Command(slipwayBin, append([]string{"gitops", "run", "--proxy-listen", proxyAddr, "--domain", "gitops.test"}, args...)...)
	cmd.Dir = g.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := gitops.ReadStatus(state, g.dep)
		if err == nil && st.Condition == gitops.Ready {
			if web, ok := st.App("web"); !ok || len(web.Services) == 0 {
				t.Fatalf("status: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never Ready: %+v, %v\n%s", st, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	host := g.dep + "-web.gitops.test"
	if code, body, err := proxytest.Get(&http.Client{Timeout: 10 * time.Second}, "http://"+proxyAddr+"/", host); err != nil || code != 200 || strings.TrimSpace(body) != "one" {
		t.Errorf("GET %s through the embedded proxy: %d %q %v", host, code, body, err)
	}
	if _, errOut, code := slipway(t, g.dir, append([]string{"gitops", "reconcile"}, args...)...); code == 0 || !strings.Contains(errOut, "another gitops controller uses this state folder") {
		t.Errorf("reconcile while run runs: exit %d, %s", code, errOut)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop on SIGINT")
	}
}

// gitopsAnswer is what the first address in the command's output serves.
func gitopsAnswer(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(out)
	if m == "" {
		t.Fatalf("no address in:\n%s", out)
	}
	resp, err := http.Get(m + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// gitopsContainers lists the names of the deployment's containers.
func gitopsContainers(t *testing.T, cli *client.Client, dep string) []string {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", gitops.LabelDeployment+"="+dep)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Items {
		names = append(names, strings.Join(c.Names, ","))
	}
	return names
}

func teardownGitops(t *testing.T, cli *client.Client, dep string) {
	alloc, err := ports.New(t.TempDir(), ports.DefaultRange)
	if err != nil {
		t.Error(err)
		return
	}
	d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Error(err)
		return
	}
	all, err := d.List(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	for _, st := range all {
		if len(st.Services) > 0 && st.Services[0].Labels[gitops.LabelDeployment] == dep {
			if err := d.Teardown(context.Background(), st.Env); err != nil {
				t.Error(err)
			}
		}
	}
}

func gitopsWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGitopsRelativeSourceWorksEveryRun: a source url ./ops.git next to
// the config, with the default --config, as the docs' example has it: the
// second reconcile fetches the same repository as the first (git ran the
// relative path from the mirror's folder: "not a git repository").
func TestGitopsRelativeSourceWorksEveryRun(t *testing.T) {
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	dir := t.TempDir()
	work := testenv.GitRepo(t, map[string]string{"apps/README": "no app yet"})
	testenv.Git(t, work, "clone", "-q", "--bare", work, filepath.Join(dir, "ops.git"))
	dep := fmt.Sprintf("rel%x", time.Now().UnixNano()&0xffffff)
	gitopsWriteFile(t, filepath.Join(dir, "slipway-gitops.yaml"),
		"sources:\n  - name: ops\n    url: ./ops.git\ndeployments:\n  - name: "+dep+"\n    source: ops\n    path: apps\n")
	for run := 1; run <= 2; run++ {
		out, errOut, code := slipway(t, dir, "gitops", "reconcile")
		if code != 0 || !strings.Contains(out, "deployment "+dep+": Ready") {
			t.Fatalf("reconcile %d: exit %d\n%s\n%s", run, code, out, errOut)
		}
	}
}

// TestGitopsRunRestoresRoutesWithoutItsSource: the embedded proxy of
// gitops run goes down with it; a restarted run gives it the routes of the
// apps that run at once, even while the source cannot be fetched (they
// came back only with a pass that fetched it).
func TestGitopsRunRestoresRoutesWithoutItsSource(t *testing.T) {
	g := newGitopsSetup(t)
	g.commit(gitopsApp(g.push("one"), "0"))
	state, proxyAddr := filepath.Join(g.dir, "state"), testenv.FreeAddr(t)
	args := []string{"gitops", "run", "--config", g.cfg, "--state", state, "--ports", "29500-29999", "--proxy-listen", proxyAddr, "--domain", "gitops.test"}
	host := g.dep + "-web.gitops.test"
	answers := func() bool {
		code, body, err := proxytest.Get(&http.Client{Timeout: 10 * time.Second}, "http://"+proxyAddr+"/", host)
		return err == nil && code == 200 && strings.TrimSpace(body) == "one"
	}
	for run, source := range []string{"reachable", "gone"} {
		cmd := exec.Command(slipwayBin, args...)
		var stderr testenv.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !answers() {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("run %d (source %s): %s never answered through the proxy\n%s", run+1, source, host, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d after SIGINT: %v\n%s", run+1, err, stderr.String())
		}
		if run == 0 {
			if err := os.Rename(g.bare, g.bare+".gone"); err != nil {
				t.Fatal(err)
			}
		}
	}
}
