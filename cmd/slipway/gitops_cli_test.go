package main

import (
	"context"
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
// changes nothing; killed with SIGKILL in the middle of a deploy, the next
// run converges to the new commit and leaves no container of the cut
// deploy; a config mistake exits non-zero with its position.
func TestGitopsReconcileCommand(t *testing.T) {
	cli := testenv.Docker(t)
	bb := testenv.BusyboxImage(t, cli)
	_, reg := registrytest.Start(t, nil)
	push := func(message string) string {
		local := testenv.BuildImage(t, cli, "slipway-test/gitops-cli:"+message, "FROM "+bb+"\nENV MESSAGE="+message+"\n")
		ref := reg + "/gitops-cli/app:" + message
		testenv.PushImage(t, cli, local, ref)
		t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
		return ref
	}
	one, two := push("one"), push("two")

	dep := fmt.Sprintf("cli%x", time.Now().UnixNano()&0xffffff)
	t.Cleanup(func() { teardownGitops(t, cli, dep) })
	work := testenv.GitRepo(t, map[string]string{"apps/web/compose.yaml": gitopsApp(one, "0")})
	bare := filepath.Join(t.TempDir(), "ops.git")
	testenv.Git(t, work, "clone", "-q", "--bare", work, bare)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "slipway-gitops.yaml")
	gitopsWriteFile(t, cfg, `sources:
  - name: ops
    url: `+bare+`
deployments:
  - name: `+dep+`
    source: ops
    path: apps
imagePolicies: [{name: other-engineers-key}]
`)
	args := []string{"gitops", "reconcile", "--config", cfg, "--state", filepath.Join(dir, "state"), "--ports", "29500-29999"}

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

	// A slow commit: the run is killed while the new container starts.
	gitopsWriteFile(t, filepath.Join(work, "apps/web/compose.yaml"), gitopsApp(two, "4"))
	testenv.Git(t, work, "commit", "-qam", "web: two, slow to start")
	testenv.Git(t, work, "push", "-q", bare, "main")
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

	gitopsWriteFile(t, cfg, "sources: []\ndeployments: []\nimages: {}\n")
	if _, errOut, code = slipway(t, dir, args...); code == 0 || !strings.Contains(errOut, "slipway-gitops.yaml:3:1: images: unknown top-level key") {
		t.Errorf("a bad config: exit %d, stderr %q", code, errOut)
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
