package dockerhost_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/embedded/embeddedtest"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
)

const domain = "review.test"

// The app serves its injected reviewEnv.json, a healthz made at start
// after $DELAY seconds (so a route switched too early shows), and its
// generation marker on /.
const webCompose = `
services:
  web:
    image: ${IMAGE}
    command: ["sh", "-c", "sleep $$DELAY; mkdir -p /www && echo $$MARK > /www/index.html && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    environment:
      DELAY: "${DELAY:-0}"
      MARK: web-${MARK:-1}
    mem_limit: 48m
    cpus: 0.5
    volumes: ["data:/data"]
    x-slipway:
      expose: true
      main: true
      port: 8080
      health: /healthz
      files:
        - path: /www/reviewEnv.json
          json: {reviewBranch: "${BRANCH}"}
  signaling:
    image: ${IMAGE}
    command: ["sh", "-c", "mkdir -p /www && echo sigver-$$MARK > /www/index.html && exec httpd -f -p 9000 -h /www"]
    environment:
      MARK: "${MARK:-1}"
    labels:
      slipway.expose: "true"
      slipway.port: "9000"
      slipway.hostname: sigver
volumes:
  data: {}
`

var (
	imageOnce sync.Once
	imageRef  string // pushed tag, resolved to a digest by the deployer
)

// image builds the busybox image once and pushes it to an embedded
// registry, so it has a digest as any CI-built image does.
func image(t testing.TB, cli *client.Client) string {
	t.Helper()
	imageOnce.Do(func() {
		bb := testenv.BusyboxImage(t, cli)
		// After the push the engine knows the image's digest; the registry
		// may go with the first test.
		_, addr := registrytest.Start(t, nil)
		ref := addr + "/env-test/busybox:1"
		testenv.PushImage(t, cli, bb, ref)
		imageRef = ref
	})
	if imageRef == "" {
		t.Fatal("no test image")
	}
	return imageRef
}

func caddy(t testing.TB) *embedded.Router { return embeddedtest.Shared(t) }

type fixture struct {
	cli   *client.Client
	ports *ports.Allocator
	d     *dockerhost.Deployer
	proxy *embedded.Router
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	cli := testenv.Docker(t)
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 28040, High: 28999})
	if err != nil {
		t.Fatal(err)
	}
	r := caddy(t)
	d, err := dockerhost.New(dockerhost.Options{
		Client: cli, Ports: alloc, Router: r,
		Hostnames:     proxy.Hostnames{Domain: domain},
		HealthTimeout: 30 * time.Second, Drain: 300 * time.Millisecond, StopTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{cli: cli, ports: alloc, d: d, proxy: r}
}

// spec is the environment of branch, its Compose file interpolated with vars.
func (f *fixture) spec(t testing.TB, branch string, vars map[string]string) dockerhost.Spec {
	t.Helper()
	all := map[string]string{"IMAGE": image(t, f.cli), "BRANCH": branch}
	for k, v := range vars {
		all[k] = v
	}
	env, err := compose.Parse(context.Background(), "compose.yaml", []byte(webCompose), all)
	if err != nil {
		t.Fatal(err)
	}
	name := "review/" + branch
	s := dockerhost.Spec{Env: slug.Environment(name), Name: name, Services: env.Services,
		Vars: map[string]string{"CI_ENVIRONMENT_NAME": name}}
	t.Cleanup(func() {
		if err := f.d.Teardown(context.Background(), s.Env); err != nil {
			t.Error(err)
		}
	})
	return s
}

func get(t testing.TB, url, host string) (int, string, error) {
	t.Helper()
	code, body, err := proxytest.Get(&http.Client{Timeout: 5 * time.Second}, url, host)
	return code, strings.TrimSpace(body), err
}

func mustGet(t *testing.T, url, host, want string) {
	t.Helper()
	code, body, err := get(t, url, host)
	if err != nil || code != 200 || body != want {
		t.Errorf("GET %s (Host %q): %d %q %v; want 200 %q", url, host, code, body, err, want)
	}
}

func TestDeployTwoServicesOnLoopbackAndThroughProxy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, "feature/login", nil)
	st, err := f.d.Deploy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	web, ok1 := st.Service("web")
	sig, ok2 := st.Service("signaling")
	if !ok1 || !ok2 || st.Generation != 1 {
		t.Fatalf("status: %+v", st)
	}
	if web.Port < 28040 || sig.Port < 28040 || web.Port == sig.Port {
		t.Errorf("ports: web %d, signaling %d", web.Port, sig.Port)
	}
	if !strings.Contains(web.Image, "@sha256:") {
		t.Errorf("web runs %s, not pinned by digest", web.Image)
	}
	mustGet(t, "http://"+web.Addr()+"/", "", "web-1")
	mustGet(t, "http://"+sig.Addr()+"/", "", "sigver-1")
	mustGet(t, "http://"+web.Addr()+"/reviewEnv.json", "", `{"reviewBranch":"feature/login"}`)

	wantWeb, wantSig := s.Env+"."+domain, s.Env+"-sigver."+domain
	if web.Host != wantWeb || sig.Host != wantSig {
		t.Errorf("hosts: %s, %s; want %s, %s", web.Host, sig.Host, wantWeb, wantSig)
	}
	mustGet(t, "http://"+f.proxy.Addr()+"/", wantWeb, "web-1")
	mustGet(t, "http://"+f.proxy.Addr()+"/", wantSig, "sigver-1")

	insp, err := f.cli.ContainerInspect(ctx, web.Container, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := insp.Container
	if c.HostConfig.Memory != 48<<20 || c.HostConfig.NanoCPUs != 5e8 {
		t.Errorf("limits: memory %d, nano cpus %d", c.HostConfig.Memory, c.HostConfig.NanoCPUs)
	}
	if c.Config.Labels[dockerhost.LabelEnv] != s.Env || c.Config.Labels[dockerhost.LabelService] != "web" || c.Config.Labels[dockerhost.LabelGeneration] != "1" {
		t.Errorf("labels: %v", c.Config.Labels)
	}
	for _, b := range c.HostConfig.PortBindings {
		for _, pb := range b {
			if pb.HostIP.String() != "127.0.0.1" {
				t.Errorf("port bound to %s, want 127.0.0.1 only", pb.HostIP)
			}
		}
	}
	if !slicesContain(c.Config.Env, "CI_ENVIRONMENT_NAME=review/feature/login") {
		t.Errorf("env: %v", c.Config.Env)
	}

	// Status and List read everything back from Docker: a new Deployer (a
	// restarted Slipway) sees the same.
	d2, err := dockerhost.New(dockerhost.Options{Client: f.cli, Ports: f.ports})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := d2.Status(ctx, s.Env)
	if err != nil || fmt.Sprint(st2) != fmt.Sprint(st) {
		t.Errorf("status after restart: %+v, %v\nwant %+v", st2, err, st)
	}
	list, err := d2.List(ctx)
	if err != nil || !slicesContainFunc(list, func(x dockerhost.Status) bool { return x.Env == s.Env }) {
		t.Errorf("list: %+v, %v", list, err)
	}
}

func TestRedeployDropsNoRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, "feature/zero-downtime", nil)
	st1, err := f.d.Deploy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	web1, _ := st1.Service("web")

	var (
		ok, failed atomic.Int64
		lastErr    atomic.Value
		sawNew     atomic.Bool
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := get(t, "http://"+f.proxy.Addr()+"/", web1.Host)
				switch {
				case err != nil || code != 200:
					failed.Add(1)
					lastErr.Store(fmt.Sprintf("%d %q %v", code, body, err))
				case body == "web-2":
					sawNew.Store(true)
					ok.Add(1)
				default:
					ok.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	// The new generation takes 2 s to be healthy: a route switched before
	// would send requests to a port nobody listens on yet.
	s2 := s
	s2.Services = f.spec(t, "feature/zero-downtime", map[string]string{"MARK": "2", "DELAY": "2"}).Services
	st2, err := f.d.Deploy(ctx, s2)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the redeploy; last: %v", failed.Load(), ok.Load()+failed.Load(), lastErr.Load())
	}
	if !sawNew.Load() {
		t.Error("no request reached the new generation")
	}
	t.Logf("%d requests, %d failed", ok.Load()+failed.Load(), failed.Load())
	web2, _ := st2.Service("web")
	if st2.Generation != 2 || web2.Port == web1.Port {
		t.Errorf("after redeploy: %+v (old port %d)", st2, web1.Port)
	}
	mustGet(t, "http://"+web2.Addr()+"/", "", "web-2")
	// The old generation is gone, with its ports.
	cs, err := f.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", dockerhost.LabelEnv+"="+s.Env)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		if c.Labels[dockerhost.LabelGeneration] != "2" {
			t.Errorf("container %v of generation %s still there", c.Names, c.Labels[dockerhost.LabelGeneration])
		}
	}
	res, err := f.ports.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Env == s.Env && (r.Port == web1.Port) {
			t.Errorf("old port %d still reserved: %+v", web1.Port, r)
		}
	}
}

func TestFailedRedeployKeepsServing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, "feature/broken", nil)
	st1, err := f.d.Deploy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	web1, _ := st1.Service("web")
	bad := s
	bad.Services = append([]compose.Service(nil), s.Services...)
	for i := range bad.Services {
		if bad.Services[i].Name == "web" {
			bad.Services[i].Health = "/missing"
		}
	}
	d, err := dockerhost.New(dockerhost.Options{Client: f.cli, Ports: f.ports, Router: f.proxy, Hostnames: proxy.Hostnames{Domain: domain}, HealthTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Deploy(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "GET http://127.0.0.1:") || !strings.Contains(err.Error(), "/missing") {
		t.Fatalf("deploy with a failing health check: %v", err)
	}
	st, err := f.d.Status(ctx, s.Env)
	if err != nil || st.Generation != 1 {
		t.Errorf("after the failed deploy: %+v, %v; want generation 1 only", st, err)
	}
	mustGet(t, "http://"+f.proxy.Addr()+"/", web1.Host, "web-1")
}

func TestTeardownLeavesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, "feature/teardown", nil)
	if _, err := f.d.Deploy(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Teardown(ctx, s.Env); err != nil {
		t.Fatal(err)
	}
	assertGone(t, f, s.Env)
	// Again: nothing left to do is no error.
	if err := f.d.Teardown(ctx, s.Env); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if _, err := f.d.Status(ctx, s.Env); !errors.Is(err, dockerhost.ErrNotFound) {
		t.Errorf("status after teardown: %v, want ErrNotFound", err)
	}
}

func assertGone(t *testing.T, f *fixture, env string) {
	t.Helper()
	ctx := context.Background()
	filter := client.Filters{}.Add("label", dockerhost.LabelEnv+"="+env)
	cs, err := f.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil || len(cs.Items) > 0 {
		t.Errorf("containers left: %v %v", cs.Items, err)
	}
	ns, err := f.cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil || len(ns.Items) > 0 {
		t.Errorf("networks left: %v %v", ns.Items, err)
	}
	vs, err := f.cli.VolumeList(ctx, client.VolumeListOptions{Filters: filter})
	if err != nil || len(vs.Items) > 0 {
		t.Errorf("volumes left: %v %v", vs.Items, err)
	}
	routes, err := f.proxy.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if e, _, _ := proxy.ParseRouteID(r.ID); e == env {
			t.Errorf("route left: %+v", r)
		}
	}
	res, err := f.ports.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Env == env {
			t.Errorf("port reservation left: %+v", r)
		}
	}
}

func TestConcurrentDeploysGetDistinctPorts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 5
	specs := make([]dockerhost.Spec, n)
	for i := range specs {
		specs[i] = f.spec(t, fmt.Sprintf("feature/concurrent-%d", i), map[string]string{"MARK": fmt.Sprint(i)})
	}
	sts := make([]dockerhost.Status, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range specs {
		wg.Go(func() { sts[i], errs[i] = f.d.Deploy(ctx, specs[i]) })
	}
	wg.Wait()
	seen := map[int]string{}
	for i, st := range sts {
		if errs[i] != nil {
			t.Fatalf("deploy %d: %v", i, errs[i])
		}
		for _, svc := range st.Services {
			if other, dup := seen[svc.Port]; dup {
				t.Errorf("port %d given to %s/%s and %s", svc.Port, st.Env, svc.Name, other)
			}
			seen[svc.Port] = st.Env + "/" + svc.Name
		}
		web, _ := st.Service("web")
		mustGet(t, "http://"+f.proxy.Addr()+"/", web.Host, fmt.Sprintf("web-%d", i))
	}
	for i := range specs {
		if err := f.d.Teardown(ctx, specs[i].Env); err != nil {
			t.Error(err)
		}
		assertGone(t, f, specs[i].Env)
	}
}

var safeName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

func TestHostileBranchGivesSafeNames(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	branch := "Feature/../../etc; rm -rf $HOME"
	s := f.spec(t, branch, nil)
	st, err := f.d.Deploy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !safeName.MatchString(st.Env) {
		t.Errorf("env slug %q", st.Env)
	}
	for _, svc := range st.Services {
		if !safeName.MatchString(svc.Container) || !strings.HasPrefix(svc.Container, "slipway-env-"+s.Env) {
			t.Errorf("container name %q", svc.Container)
		}
		if !safeName.MatchString(svc.Host) || !strings.HasSuffix(svc.Host, "."+domain) {
			t.Errorf("hostname %q", svc.Host)
		}
	}
	ns, err := f.cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("label", dockerhost.LabelEnv+"="+s.Env)})
	if err != nil || len(ns.Items) != 1 || !safeName.MatchString(ns.Items[0].Name) {
		t.Errorf("networks: %v %v", ns.Items, err)
	}
	vs, err := f.cli.VolumeList(ctx, client.VolumeListOptions{Filters: client.Filters{}.Add("label", dockerhost.LabelEnv+"="+s.Env)})
	if err != nil || len(vs.Items) != 1 || !safeName.MatchString(vs.Items[0].Name) {
		t.Errorf("volumes: %v %v", vs.Items, err)
	}
	routes, err := f.proxy.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if e, _, _ := proxy.ParseRouteID(r.ID); e == s.Env && !safeName.MatchString(r.ID) {
			t.Errorf("route id %q", r.ID)
		}
	}
	// The branch itself reaches the app only as JSON data, escaped.
	web, _ := st.Service("web")
	mustGet(t, "http://"+f.proxy.Addr()+"/reviewEnv.json", web.Host, `{"reviewBranch":"Feature/../../etc; rm -rf $HOME"}`)
}

func TestDeployRefusesBadSpecs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tt := range []struct {
		spec dockerhost.Spec
		want string
	}{
		{dockerhost.Spec{Env: "../etc", Services: []compose.Service{{Name: "web", Image: "x"}}}, `environment slug "../etc"`},
		{dockerhost.Spec{Env: "review-a"}, "no service"},
		{dockerhost.Spec{Env: "review-a", Services: []compose.Service{{Name: "a_b", Image: "x"}, {Name: "a-b", Image: "x"}}}, `same slug "a-b"`},
		{dockerhost.Spec{Env: "review-a", Services: []compose.Service{{Name: "web", Image: "x", Expose: true}}}, "exposed without a port"},
	} {
		if _, err := f.d.Deploy(ctx, tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Deploy(%+v): %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func slicesContain(s []string, v string) bool {
	return slicesContainFunc(s, func(x string) bool { return x == v })
}

func slicesContainFunc[T any](s []T, f func(T) bool) bool {
	for _, x := range s {
		if f(x) {
			return true
		}
	}
	return false
}

// BenchmarkDeployUntilServed is a fresh two-service environment, images
// already on the engine, from Deploy until its main hostname answers 200
// through the proxy. Teardown is outside the timer.
func BenchmarkDeployUntilServed(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		b.StopTimer()
		s := f.spec(b, fmt.Sprintf("bench/%d", i), nil)
		i++
		b.StartTimer()
		st, err := f.d.Deploy(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		web, _ := st.Service("web")
		if code, _, err := get(b, "http://"+f.proxy.Addr()+"/", web.Host); err != nil || code != 200 {
			b.Fatalf("GET: %d %v", code, err)
		}
		b.StopTimer()
		if err := f.d.Teardown(ctx, s.Env); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// failingRouter refuses to apply one route, as a proxy that went away
// halfway through a switch would.
type failingRouter struct {
	proxy.Router
	failID string
}

func (r failingRouter) Apply(ctx context.Context, rt proxy.Route) error {
	if rt.ID == r.failID {
		return errors.New("proxy unreachable")
	}
	return r.Router.Apply(ctx, rt)
}

func TestRouteSwitchFailureRestoresOldRoutes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, "feature/half-switch", nil)
	st1, err := f.d.Deploy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	sig1, _ := st1.Service("signaling")
	webID, err := proxy.RouteID(s.Env, "web")
	if err != nil {
		t.Fatal(err)
	}
	// signaling's route switches first, then web's fails.
	d, err := dockerhost.New(dockerhost.Options{Client: f.cli, Ports: f.ports, Router: failingRouter{f.proxy, webID},
		Hostnames: proxy.Hostnames{Domain: domain}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s2 := s
	s2.Services = f.spec(t, "feature/half-switch", map[string]string{"MARK": "2"}).Services
	if _, err := d.Deploy(ctx, s2); err == nil || !strings.Contains(err.Error(), "proxy unreachable") {
		t.Fatalf("deploy: %v, want the route error", err)
	}
	mustGet(t, "http://"+f.proxy.Addr()+"/", sig1.Host, "sigver-1")
	if st, err := f.d.Status(ctx, s.Env); err != nil || st.Generation != 1 {
		t.Errorf("status: %+v, %v; want generation 1", st, err)
	}
}

// stealingPorts hands out, for the web service's first reservation, a port
// that another program binds: as if it took the port between the check and
// the container's start.
type stealingPorts struct {
	*ports.Allocator
	stolen int
	used   bool
}

func (p *stealingPorts) Reserve(ctx context.Context, env, service string, avoid ...int) (int, error) {
	if !p.used && strings.HasPrefix(service, "web") {
		p.used = true
		return p.stolen, nil
	}
	return p.Allocator.Reserve(ctx, env, service, avoid...)
}

func TestPortTakenBeforeTheStartMovesToAnother(t *testing.T) {
	f := newFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stolen := l.Addr().(*net.TCPAddr).Port
	sp := &stealingPorts{Allocator: f.ports, stolen: stolen}
	d, err := dockerhost.New(dockerhost.Options{Client: f.cli, Ports: sp, HealthTimeout: 30 * time.Second,
		StopTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d // the spec's cleanup tears down through it
	st, err := d.Deploy(context.Background(), f.spec(t, "stolen-port", nil))
	if err != nil {
		t.Fatalf("deploy with its first port taken: %v", err)
	}
	web, _ := st.Service("web")
	if !sp.used || web.Port == stolen || web.Port == 0 {
		t.Fatalf("web on port %d (stolen %d, handed out: %v); want another port", web.Port, stolen, sp.used)
	}
	mustGet(t, "http://"+web.Addr()+"/", "", "web-1")
}
