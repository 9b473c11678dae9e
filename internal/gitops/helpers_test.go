package gitops_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// images are two versions of the test app, pushed to the test's own
// embedded registry so that they have digests, as CI-built images do.
type images struct {
	cli      *client.Client
	registry string // host:port
	v1, v2   string // local tags of the two versions
}

var (
	buildOnce        sync.Once
	builtV1, builtV2 string
)

// testImages builds the two versions once per process (the app answers
// its $MESSAGE, "one" or "two") and pushes them as tags v1 and v2 to a
// registry of the test's own.
func testImages(t *testing.T) *images {
	t.Helper()
	cli := testenv.Docker(t)
	buildOnce.Do(func() {
		bb := testenv.BusyboxImage(t, cli)
		builtV1 = testenv.BuildImage(t, cli, "slipway-test/gitops-app:one", "FROM "+bb+"\nENV MESSAGE=one\n")
		builtV2 = testenv.BuildImage(t, cli, "slipway-test/gitops-app:two", "FROM "+bb+"\nENV MESSAGE=two\n")
	})
	if builtV2 == "" {
		t.Fatal("no test images")
	}
	_, addr := registrytest.Start(t, nil)
	im := &images{cli: cli, registry: addr, v1: builtV1, v2: builtV2}
	im.push(t, im.v1, "v1")
	im.push(t, im.v2, "v2")
	t.Cleanup(im.untag)
	return im
}

// untag removes the tags of the test's registry from the engine.
func (im *images) untag() {
	list, err := im.cli.ImageList(context.Background(), client.ImageListOptions{All: true})
	if err != nil {
		return
	}
	for _, img := range list.Items {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, im.registry+"/") {
				_, _ = im.cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{})
			}
		}
	}
}

// ref is the registry reference of a tag of the app.
func (im *images) ref(tag string) string { return im.registry + "/gitops-test/app:" + tag }

// push tags local image src as the app's tag in the registry and pushes it.
func (im *images) push(t *testing.T, src, tag string) {
	t.Helper()
	testenv.PushImage(t, im.cli, src, im.ref(tag))
}

// appCompose is an app answering its image's $MESSAGE and $EXTRA on /.
func appCompose(image string) string {
	return `services:
  web:
    image: ` + image + `
    command: ["sh", "-c", "mkdir -p /www && echo $$MESSAGE$$EXTRA > /www/index.html && exec httpd -f -p 8080 -h /www"]
    x-slipway:
      expose: true
      port: 8080
      health: /
`
}

// gitSource is a bare repository (the source) and a clone to commit in.
type gitSource struct {
	t          *testing.T
	bare, work string
}

func newSource(t *testing.T, files map[string]string) *gitSource {
	t.Helper()
	work, bare := testenv.GitRemote(t, files)
	return &gitSource{t: t, bare: bare, work: work}
}

// commit writes files (an empty content removes the file) and pushes.
func (g *gitSource) commit(msg string, files map[string]string) string {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.work, name)
		if content == "" {
			if err := os.RemoveAll(p); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	testenv.Git(g.t, g.work, "add", "-A")
	testenv.Git(g.t, g.work, "commit", "-q", "-m", msg)
	testenv.Git(g.t, g.work, "push", "-q", "origin", "main")
	return testenv.Git(g.t, g.work, "rev-parse", "HEAD")
}

func (g *gitSource) head() string { return testenv.Git(g.t, g.bare, "rev-parse", "main") }

// fixture is a controller's surroundings: Docker, a port allocator, a
// state folder.
type fixture struct {
	t        *testing.T
	im       *images
	deployer *dockerhost.Deployer
	state    string
	// name is unique per test: deployments are named after it, so runs
	// never see each other's containers.
	name string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureStopping(t, time.Second)
}

// newFixtureStopping is newFixture whose deployer gives containers stop
// between SIGTERM and SIGKILL.
func newFixtureStopping(t *testing.T, stop time.Duration) *fixture {
	t.Helper()
	im := testImages(t)
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 29040, High: 29999})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dockerhost.New(dockerhost.Options{
		Client: im.cli, Ports: alloc, HealthTimeout: time.Minute,
		Drain: 100 * time.Millisecond, StopTimeout: stop, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, im: im, deployer: d, state: t.TempDir(), name: fmt.Sprintf("t%x", time.Now().UnixNano()&0xffffff)}
	t.Cleanup(f.removeAll)
	return f
}

// removeAll tears down what the test's deployments left.
func (f *fixture) removeAll() {
	ctx := context.Background()
	all, err := f.deployer.List(ctx)
	if err != nil {
		f.t.Errorf("cleanup: %v", err)
		return
	}
	for _, st := range all {
		if len(st.Services) > 0 && strings.HasPrefix(st.Services[0].Labels[gitops.LabelDeployment], f.name) {
			if err := f.deployer.Teardown(ctx, st.Env); err != nil {
				f.t.Errorf("cleanup: %v", err)
			}
		}
	}
}

// controller parses the YAML config and starts a controller on it, closed
// at the end of the test.
func (f *fixture) controller(yamlText string, getenv func(string) string) *gitops.Controller {
	f.t.Helper()
	c, err := f.open(yamlText, getenv)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// open is controller returning New's error.
func (f *fixture) open(yamlText string, getenv func(string) string) (*gitops.Controller, error) {
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(yamlText))
	if err != nil {
		return nil, err
	}
	// One installation for the whole test, whatever its state folders.
	return gitops.New(gitops.Options{Config: cfg, StateDir: f.state, Deployer: f.deployer, Getenv: getenv, Logger: quiet(), Installation: f.name})
}

// config is a one-source config; deployments is the YAML of the list.
func (f *fixture) config(src *gitSource, deployments string) string {
	return strings.NewReplacer("{name}", f.name, "{source}", src.bare).Replace(`sources:
  - name: ops
    url: {source}
    branch: main
deployments:
` + deployments)
}

// reconcile runs one pass and returns the named deployment's status.
func reconcile(t *testing.T, c *gitops.Controller, deployment string) (gitops.DeploymentStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all, err := c.ReconcileAll(ctx)
	for _, st := range all {
		if st.Name == deployment {
			return st, err
		}
	}
	t.Fatalf("no status for deployment %s in %+v (err %v)", deployment, all, err)
	return gitops.DeploymentStatus{}, err
}

// app returns the app's status, failing the test without it.
func app(t *testing.T, st gitops.DeploymentStatus, name string) gitops.AppStatus {
	t.Helper()
	a, ok := st.App(name)
	if !ok {
		t.Fatalf("deployment %s has no app %s: %+v", st.Name, name, st.Apps)
	}
	return a
}

// answer is what the app's exposed service says on /.
func answer(t *testing.T, a gitops.AppStatus) string {
	t.Helper()
	if len(a.Services) == 0 || a.Services[0].Addr == "" {
		t.Fatalf("app %s has no exposed service: %+v", a.Name, a)
	}
	resp, err := http.Get("http://" + a.Services[0].Addr + "/")
	if err != nil {
		t.Fatalf("app %s: %v", a.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// containerIDs returns the IDs of all the app's containers, of every
// generation.
func (f *fixture) containerIDs(deployment, app string) []string {
	f.t.Helper()
	res, err := f.im.cli.ContainerList(context.Background(), client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", gitops.LabelDeployment+"="+deployment).Add("label", gitops.LabelApp+"="+app),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, c := range res.Items {
		out = append(out, c.ID)
	}
	return out
}

// containers returns the IDs of the app's containers, by service, once
// the old generations that deploys stop in the background are gone.
func (f *fixture) containers(deployment, app string) map[string]string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.deployer.Wait(ctx); err != nil {
		f.t.Fatal(err)
	}
	res, err := f.im.cli.ContainerList(context.Background(), client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", gitops.LabelDeployment+"="+deployment).Add("label", gitops.LabelApp+"="+app),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range res.Items {
		out[c.Labels[dockerhost.LabelService]] = c.ID
	}
	return out
}

func quiet() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
