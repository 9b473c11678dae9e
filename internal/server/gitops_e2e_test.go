package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// gitopsView is GET /api/gitops as a client reads it.
type gitopsView struct {
	Deployments []struct {
		gitops.DeploymentStatus
		URLs map[string][]string `json:"urls"`
	} `json:"deployments"`
	Images struct {
		Policies []struct {
			Name, Tag, Digest, Error string
		} `json:"policies"`
		Updates []struct {
			Name       string `json:"name"`
			LastCommit string `json:"last_commit"`
			Error      string `json:"error"`
		} `json:"updates"`
	} `json:"images"`
}

func (s *serverProc) gitops() gitopsView {
	s.t.Helper()
	var v gitopsView
	if code := s.do("GET", "/api/gitops", nil, &v); code != 200 {
		s.t.Fatalf("GET /api/gitops: %d", code)
	}
	return v
}

// deployment returns the named deployment of GET /api/gitops.
func (v gitopsView) deployment(t *testing.T, name string) gitops.DeploymentStatus {
	t.Helper()
	for _, d := range v.Deployments {
		if d.Name == name {
			return d.DeploymentStatus
		}
	}
	t.Fatalf("GET /api/gitops has no deployment %s: %+v", name, v)
	return gitops.DeploymentStatus{}
}

// waitGitops polls GET /api/gitops until ok says yes, for up to three
// minutes (a deploy pulls and health-checks on a loaded machine).
func (s *serverProc) waitGitops(t *testing.T, what string, ok func(gitopsView) bool) gitopsView {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v := s.gitops()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; GET /api/gitops: %+v", what, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// appliedAt says whether the deployment is Ready with every app at rev.
func (v gitopsView) appliedAt(name, rev string) bool {
	for _, d := range v.Deployments {
		if d.Name == name {
			return d.Condition == gitops.Ready && d.AppliedRevision == rev
		}
	}
	return false
}

var (
	gitopsImagesOnce sync.Once
	gitopsOne        string
	gitopsTwo        string
)

// gitopsImages builds two versions of an app answering its $MESSAGE
// ("one", "two") and $EXTRA on /, once per process.
func gitopsImages(t *testing.T, cli *client.Client) (one, two string) {
	t.Helper()
	gitopsImagesOnce.Do(func() {
		bb := testenv.BusyboxImage(t, cli)
		gitopsOne = testenv.BuildImage(t, cli, "slipway-test/serve-gitops:one", "FROM "+bb+"\nENV MESSAGE=one\n")
		gitopsTwo = testenv.BuildImage(t, cli, "slipway-test/serve-gitops:two", "FROM "+bb+"\nENV MESSAGE=two\n")
	})
	if gitopsTwo == "" {
		t.Fatal("no test images")
	}
	return gitopsOne, gitopsTwo
}

// gitopsCompose is an app of the ops repository; marker, when set, lets
// the image update automation rewrite its image.
func gitopsCompose(image, extra, marker string) string {
	return `services:
  web:
    image: ` + image + marker + `
    command: ["sh", "-c", "mkdir -p /www && echo $$MESSAGE$$EXTRA > /www/index.html && exec httpd -f -p 8080 -h /www"]
    environment:
      EXTRA: "` + extra + `"
    x-slipway:
      expose: true
      port: 8080
      health: /
`
}

// opsRepo is a bare repository of desired state and a clone to commit in.
type opsRepo struct {
	t          *testing.T
	bare, work string
}

func newOpsRepo(t *testing.T, files map[string]string) *opsRepo {
	t.Helper()
	work, bare := testenv.GitRemote(t, files)
	return &opsRepo{t: t, bare: bare, work: work}
}

// commit writes a file, commits and pushes (after pulling what the image
// automation pushed), and returns the new head.
func (g *opsRepo) commit(file, content string) string {
	g.t.Helper()
	testenv.Git(g.t, g.work, "pull", "-q", "--rebase", "origin", "main")
	p := filepath.Join(g.work, file)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
	testenv.Git(g.t, g.work, "add", "-A")
	testenv.Git(g.t, g.work, "commit", "-q", "-m", "change "+file)
	testenv.Git(g.t, g.work, "push", "-q", "origin", "main")
	return g.head()
}

func (g *opsRepo) head() string { return testenv.Git(g.t, g.bare, "rev-parse", "main") }

// gitopsContainers returns the IDs of a deployment's containers, but
// those of an old generation being stopped.
func gitopsContainers(t *testing.T, cli *client.Client, deployment string) []string {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", gitops.LabelDeployment+"="+deployment),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		// An old generation still being stopped after a deploy is
		// renamed *-retiring; it is going, not running the app.
		if len(c.Names) > 0 && strings.HasSuffix(c.Names[0], "-retiring") {
			continue
		}
		ids = append(ids, c.ID)
	}
	return ids
}

// tearDownGitops removes what the deployments left on the engine.
func tearDownGitops(t *testing.T, cli *client.Client, dataDir string, envs ...string) {
	alloc, err := ports.New(filepath.Join(dataDir, "ports"), ports.Range{Low: 18040, High: 18999})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, e := range envs {
		if err := d.Teardown(context.Background(), e); err != nil {
			t.Logf("cleanup %s: %v", e, err)
		}
	}
}

// TestServeRunsGitops is GitOps inside `slipway serve`, with real git
// repositories, Docker, the embedded registry and the embedded proxy: the
// apps of the ops repository are deployed and answer by hostname; a commit
// is picked up by polling; POST reconcile reconciles a deployment whose
// source polls hourly at once; a new semver tag pushed to the server's
// registry is committed by the image update automation and then deployed
// by digest at once, though that source polls hourly; the metrics count it
// all; a restarted server converges without redeploying.
func TestServeRunsGitops(t *testing.T) {
	cli := testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	one, two := gitopsImages(t, cli)
	addr, proxyAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	image := addr + "/gitops/app"
	// Unique per run: the engine is shared with other tests.
	live, manual := fmt.Sprintf("l%x", time.Now().UnixNano()&0xffffff), fmt.Sprintf("m%x", time.Now().UnixNano()&0xffffff)
	const marker = ` # {"$imagepolicy": "app"}`
	ops := newOpsRepo(t, map[string]string{
		"live/web/compose.yaml":   gitopsCompose(image+":1.0.0", "", ""),
		"manual/api/compose.yaml": gitopsCompose(image+":1.0.0", "", marker),
	})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	t.Cleanup(func() { tearDownGitops(t, cli, data, live+"-web", manual+"-api") })
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(gitopsFile, []byte(fmt.Sprintf(`sources:
  - {name: ops, url: %[1]s, interval: 1s}
  - {name: ops-hourly, url: %[1]s, interval: 1h}
deployments:
  - {name: %[2]s, source: ops, path: live, interval: 1h}
  - {name: %[3]s, source: ops-hourly, path: manual, interval: 1h}
imagePolicies:
  - name: app
    image: %[4]s
    policy: {semver: {range: ">=1.0.0"}}
imageUpdates:
  - {name: manual-images, url: %[1]s, path: manual, interval: 1s}
`, ops.bare, live, manual, image)), 0o644)
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte(fmt.Sprintf(`proxy:
  embedded: {listen: %s}
  domain: gitops.example.com
environments:
  ports: 18040-18999
gitops:
  config: %s
`, proxyAddr, gitopsFile)), 0o644)
	s := startServerAt(t, addr, storetest.SQLiteURL(t), data, "--config", config)

	// The registry is the server's: push the first version, then ask for
	// both deployments at once rather than wait for their hourly pass.
	testenv.PushImageAs(t, cli, one, image+":1.0.0", "ci", s.token)
	for _, dep := range []string{live, manual} {
		var got map[string]string
		if code := s.do("POST", "/api/gitops/"+dep+"/reconcile", nil, &got); code != 202 || got["status"] != "requested" {
			t.Fatalf("POST reconcile %s: %d %v", dep, code, got)
		}
	}
	if code := s.do("POST", "/api/gitops/nope/reconcile", nil, nil); code != 404 {
		t.Errorf("POST reconcile of an unknown deployment: %d, want 404", code)
	}
	rev1 := ops.head()
	v := s.waitGitops(t, "both deployments Ready at the first commit", func(v gitopsView) bool {
		return v.appliedAt(live, rev1) && v.appliedAt(manual, rev1)
	})
	host := live + "-web.gitops.example.com"
	if urls := v.Deployments[0].URLs["web"]; len(urls) != 1 || urls[0] != "http://"+host+":"+portOf(proxyAddr)+"/" {
		t.Errorf("the web app's URLs: %v, want its hostname on the proxy's port", urls)
	}
	waitAnswer(t, proxyAddr, host, "one")

	t.Run("a commit is picked up by polling", func(t *testing.T) {
		rev := ops.commit("live/web/compose.yaml", gitopsCompose(image+":1.0.0", "-b", ""))
		s.waitGitops(t, "the live deployment at the new commit", func(v gitopsView) bool { return v.appliedAt(live, rev) })
		waitAnswer(t, proxyAddr, host, "one-b")
	})

	t.Run("POST reconcile reconciles at once", func(t *testing.T) {
		rev := ops.commit("manual/api/compose.yaml", gitopsCompose(image+":1.0.0", "-m", marker))
		if d := s.gitops().deployment(t, manual); d.ObservedRevision == rev {
			t.Fatalf("the hourly source saw the commit before any reconcile was asked")
		}
		if code := s.do("POST", "/api/gitops/"+manual+"/reconcile", nil, nil); code != 202 {
			t.Fatalf("POST reconcile: %d", code)
		}
		s.waitGitops(t, "the manual deployment at the new commit", func(v gitopsView) bool { return v.appliedAt(manual, rev) })
		waitAnswer(t, proxyAddr, manual+"-api.gitops.example.com", "one-m")
	})

	t.Run("a new tag goes from the registry to git to the host", func(t *testing.T) {
		before := ops.head()
		testenv.PushImageAs(t, cli, two, image+":1.1.0", "ci", s.token)
		ref, _ := name.ParseReference(image + ":1.1.0")
		desc, err := remote.Head(ref)
		if err != nil {
			t.Fatal(err)
		}
		digest := desc.Digest.String()
		var rev string
		deadline := time.Now().Add(2 * time.Minute)
		for rev = ops.head(); rev == before; rev = ops.head() {
			if time.Now().After(deadline) {
				t.Fatalf("the image update automation pushed no commit; GET /api/gitops: %+v", s.gitops().Images)
			}
			time.Sleep(200 * time.Millisecond)
		}
		compose := testenv.Git(t, ops.bare, "show", rev+":manual/api/compose.yaml")
		if !strings.Contains(compose, image+":1.1.0"+marker) {
			t.Fatalf("the automation's commit wrote:\n%s", compose)
		}
		if author := testenv.Git(t, ops.bare, "log", "-1", "--format=%an", rev); author != "Slipway" {
			t.Errorf("the commit's author is %q, want Slipway", author)
		}
		// Its source fetches hourly: the push itself asks for the pass.
		v := s.waitGitops(t, "the manual deployment at the automation's commit", func(v gitopsView) bool { return v.appliedAt(manual, rev) })
		api := v.deployment(t, manual).Apps[0]
		if len(api.Services) != 1 || api.Services[0].Image != image+"@"+digest {
			t.Errorf("api runs %+v, want %s@%s", api.Services, image, digest)
		}
		if p := v.Images.Policies; len(p) != 1 || p[0].Tag != "1.1.0" || p[0].Digest != digest {
			t.Errorf("image policies in the API: %+v, want app at 1.1.0 %s", p, digest)
		}
		if u := v.Images.Updates; len(u) != 1 || u[0].LastCommit != rev {
			t.Errorf("image updates in the API: %+v, want the last commit %s", u, rev)
		}
		waitAnswer(t, proxyAddr, manual+"-api.gitops.example.com", "two-m")
		if code := s.do("POST", "/api/gitops/images/manual-images/run", nil, nil); code != 202 {
			t.Errorf("POST run of the image update: %d, want 202", code)
		}
		if code := s.do("POST", "/api/gitops/images/nope/run", nil, nil); code != 404 {
			t.Errorf("POST run of an unknown image update: %d, want 404", code)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		m := s.text("/metrics")
		for _, want := range []string{
			fmt.Sprintf(`slipway_gitops_app_ready{app="web",deployment="%s"} 1`, live),
			fmt.Sprintf(`slipway_gitops_app_ready{app="api",deployment="%s"} 1`, manual),
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		passes := regexp.MustCompile(fmt.Sprintf(`slipway_gitops_reconcile_total\{deployment="%s",result="ready"\} (\d+)`, live)).FindStringSubmatch(m)
		if passes == nil || passes[1] == "0" || passes[1] == "1" {
			t.Errorf("/metrics: reconcile passes of %s: %v, want several", live, passes)
		}
	})

	t.Run("a restarted server converges without redeploying", func(t *testing.T) {
		ids := map[string][]string{live: gitopsContainers(t, cli, live), manual: gitopsContainers(t, cli, manual)}
		s.stop()
		restartedAt := time.Now().UTC()
		s = s.restart()
		for _, dep := range []string{live, manual} {
			if code := s.do("POST", "/api/gitops/"+dep+"/reconcile", nil, nil); code != 202 {
				t.Fatalf("POST reconcile: %d", code)
			}
		}
		head := ops.head()
		v := s.waitGitops(t, "a pass of both deployments after the restart", func(v gitopsView) bool {
			for _, d := range v.Deployments {
				if d.UpdatedAt.Before(restartedAt) || d.Condition != gitops.Ready {
					return false
				}
			}
			return v.appliedAt(live, head) && v.appliedAt(manual, head)
		})
		for _, d := range v.Deployments {
			for _, a := range d.Apps {
				if a.Reason != gitops.ReasonUpToDate {
					t.Errorf("after the restart %s/%s is %s (%s), want UpToDate", d.Name, a.Name, a.Reason, a.Message)
				}
			}
		}
		for dep, before := range ids {
			if after := gitopsContainers(t, cli, dep); strings.Join(after, ",") != strings.Join(before, ",") || len(after) == 0 {
				t.Errorf("%s's containers were %v, are %v after the restart", dep, before, after)
			}
		}
		// The new embedded proxy got the routes of what ran on.
		waitAnswer(t, proxyAddr, host, "one-b")
		waitAnswer(t, proxyAddr, manual+"-api.gitops.example.com", "two-m")
	})
}

// waitAnswer waits for the proxy to answer want for host.
func waitAnswer(t *testing.T, proxyAddr, host, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := viaProxy(proxyAddr, host, "/")
		if err == nil && code == http.StatusOK && strings.TrimSpace(body) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy for %s: %d %q %v, want %q", host, code, body, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// TestServeRefusesABadGitopsConfig: a mistake in slipway-gitops.yaml stops
// the server's start with its file, line and column.
func TestServeRefusesABadGitopsConfig(t *testing.T) {
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(gitopsFile, []byte("sources:\n  - name: ops\n    url: /tmp/ops.git\n    interval: soon\ndeployments:\n  - {name: prod, source: ops}\n"), 0o644)
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("gitops:\n  config: "+gitopsFile+"\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, slipwayBin, "serve", "--config", config, "--data", filepath.Join(dir, "data"), "--listen", testenv.FreeAddr(t)).CombinedOutput()
	want := gitopsFile + ":4:15: sources[0].interval: want a duration"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("serve with a bad gitops config: %v\n%s\nwant %q", err, out, want)
	}

	// A bad image policy is refused as well, by the image automation's reader.
	os.WriteFile(gitopsFile, []byte("sources: [{name: ops, url: /tmp/ops.git}]\ndeployments: [{name: prod, source: ops}]\n"+
		"imagePolicies:\n  - name: app\n    image: 127.0.0.1:5000/app\n    policy: {semver: {range: \">=1 <<2\"}}\n"), 0o644)
	out, err = exec.CommandContext(ctx, slipwayBin, "serve", "--config", config, "--data", filepath.Join(dir, "data"), "--listen", testenv.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), gitopsFile+":6:") || !strings.Contains(string(out), "imagePolicies[0].policy.semver.range") {
		t.Errorf("serve with a bad image policy: %v\n%s", err, out)
	}
}

// TestSecondServerOnOneGitopsStateIsRefused: two servers given one GitOps
// state folder would deploy the same apps; the second fails to start.
func TestSecondServerOnOneGitopsStateIsRefused(t *testing.T) {
	testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	work := testenv.GitRepo(t, map[string]string{"README": "no apps yet\n"})
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(gitopsFile, []byte("sources: [{name: ops, url: "+work+", interval: 1h}]\n"+
		"deployments: [{name: shared, source: ops, path: apps, interval: 1h}]\n"), 0o644)
	config := func(name string) string {
		p := filepath.Join(dir, name+".yml")
		os.WriteFile(p, []byte(fmt.Sprintf("proxy:\n  embedded: {listen: %s}\ngitops:\n  config: %s\n  state: %s\n",
			testenv.FreeAddr(t), gitopsFile, filepath.Join(dir, "state"))), 0o644)
		return p
	}
	startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "a"), config("a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, slipwayBin, "serve", "--config", config("b"), "--data", filepath.Join(dir, "b"), "--listen", testenv.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another gitops controller uses this state folder") {
		t.Errorf("a second server on the state folder: %v\n%s", err, out)
	}
}
