//go:build kube

package kubehost_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/kubehost"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/embedded/embeddedtest"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

const domain = "kube.test"

// timeout bounds a pod start on the loaded shared machine.
const timeout = 3 * time.Minute

var _ deploy.Host = (*kubehost.Host)(nil)

type fixture struct {
	cs           kubernetes.Interface
	host         *kubehost.Host
	proxy        *embedded.Router
	installation string
}

// newFixture is a Host on the test cluster behind the test process's
// embedded proxy, under an installation id of its own, and its Follow
// running until the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	kubetest.Cluster(t)
	c, err := kube.Connect(kube.Target{Kubeconfig: kubetest.Kubeconfig()})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := embeddedtest.Shared(t)
	inst := "t" + strings.ToLower(rand.Text()[:10])
	h, err := kubehost.New(kubehost.Options{
		Client: cs, Installation: inst, Router: r, Hostnames: proxy.Hostnames{Domain: domain},
		HealthTimeout: timeout, Drain: 200 * time.Millisecond, StopTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Follow(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &fixture{cs: cs, host: h, proxy: r, installation: inst}
}

// teardownAtEnd tears env down when the test ends, whatever happened.
func (f *fixture) teardownAtEnd(t *testing.T, env string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := f.host.Teardown(ctx, env); err != nil {
			t.Error(err)
		}
	})
}

// get asks the proxy for path on host.
func (f *fixture) get(host, path string) (int, string, error) {
	return f.getWith(&http.Client{Timeout: 10 * time.Second}, host, path)
}

// getWith is get by the client c.
func (f *fixture) getWith(c *http.Client, host, path string) (int, string, error) {
	code, body, err := proxytest.Get(c, "http://"+f.proxy.Addr()+path, host)
	return code, strings.TrimSpace(body), err
}

// serves waits until host answers path with 200 and want through the proxy.
func (f *fixture) serves(t *testing.T, host, path, want string) {
	t.Helper()
	kubetest.Eventually(t, timeout, "GET "+host+path, func(context.Context) error {
		code, body, err := f.get(host, path)
		if err != nil || code != http.StatusOK || body != want {
			return fmt.Errorf("got %d %q %v, want 200 %q", code, body, err, want)
		}
		return nil
	})
}

// reviewCompose is two exposed services of busybox httpd (the image's
// entrypoint is /bin/sh): web, the main
// one, answers its mark and api its own; the file Slipway injects
// (spec.Files) is served too.
const reviewCompose = `
services:
  web:
    image: ` + kubetest.BusyboxImage + `
    command: [-c, 'mkdir -p /www && echo "web $$CI_ENVIRONMENT_SLUG" > /www/index.html && exec httpd -f -p 8080 -h /www']
    mem_limit: 32m
    x-slipway: {expose: true, main: true, port: 8080, health: /index.html}
  api:
    image: ` + kubetest.BusyboxImage + `
    command: [-c, 'mkdir -p /www && echo "api $$MARK" > /www/index.html && exec httpd -f -p 9090 -h /www']
    environment: {MARK: one}
    x-slipway: {expose: true, port: 9090, hostname: api}
`

func TestReviewEnvironmentInItsOwnNamespaceTornDownToNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	name := "review/feature-x"
	envSlug := slug.Environment(name)
	env := f.installation + "-p1-" + envSlug
	svcs, err := compose.Parse(ctx, "compose.yaml", []byte(reviewCompose), nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := dockerhost.Spec{
		Env: env, HostSlug: envSlug, RefSlug: "feature-x", Name: name, Services: svcs.Services,
		Vars:  map[string]string{"CI_ENVIRONMENT_SLUG": envSlug},
		Files: []compose.File{{Path: "/www/version.txt", Content: []byte("injected\n")}},
	}
	f.teardownAtEnd(t, env)
	st, err := f.host.Deploy(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	web, ok := st.Service("web")
	if !ok || web.Host == "" || web.IP == "" {
		t.Fatalf("deployed %+v: want web with a hostname and a pod IP", st)
	}
	api, _ := st.Service("api")

	// Its own namespace, labelled with the installation.
	nsName := f.host.Namespace(env)
	ns, err := f.cs.CoreV1().Namespaces().Get(ctx, nsName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[kubehost.LabelInstallation] != f.installation || len(nsName) > 63 {
		t.Fatalf("namespace %s labels %v: want installation %s, a DNS label", nsName, ns.Labels, f.installation)
	}

	// Reached through the proxy by their hostnames.
	f.serves(t, web.Host, "/", "web "+envSlug)
	f.serves(t, api.Host, "/", "api one")
	f.serves(t, web.Host, "/version.txt", "injected")
	if !strings.HasPrefix(web.Host, "review-feature-x") {
		t.Errorf("web's hostname %s: want the review-<branch> form", web.Host)
	}

	// A pod replaced (new IP): the route follows its EndpointSlice.
	pods, err := f.cs.CoreV1().Pods(nsName).List(ctx, metav1.ListOptions{LabelSelector: kubehost.LabelService + "=web"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("web's pods: %v %v", pods, err)
	}
	old := pods.Items[0]
	if err := f.cs.CoreV1().Pods(nsName).Delete(ctx, old.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	routeID, _ := proxy.RouteID(env, "web")
	kubetest.Eventually(t, timeout, "web's route on its new pod", func(ctx context.Context) error {
		routes, err := f.proxy.List(ctx)
		if err != nil {
			return err
		}
		for _, rt := range routes {
			if rt.ID == routeID && len(rt.Upstreams) == 1 && !strings.HasPrefix(rt.Upstreams[0].Addr, old.Status.PodIP+":") {
				return nil
			}
		}
		return fmt.Errorf("routes %+v", routes)
	})
	f.serves(t, web.Host, "/", "web "+envSlug)

	// A second deploy: generation 2 serves, generation 1 is gone.
	spec.Services[0].Env = map[string]string{"MARK": "two"}
	st2, err := f.host.Deploy(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.serves(t, api.Host, "/", "api two")
	gens, err := f.host.Generations(ctx, env)
	if err != nil || len(gens) != 1 || gens[0].Number != st2.Generation || st2.Generation != 2 {
		t.Fatalf("generations after the redeploy: %+v %v, want generation 2 alone", gens, err)
	}

	// Torn down to nothing: no namespace, no route, no object left.
	if err := f.host.Teardown(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cs.CoreV1().Namespaces().Get(ctx, nsName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after teardown: %v, want not found", nsName, err)
	}
	routes, err := f.proxy.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		if e, _, _ := proxy.ParseRouteID(rt.ID); e == env {
			t.Errorf("route %s left after teardown", rt.ID)
		}
	}
	sel := metav1.ListOptions{LabelSelector: kubehost.LabelInstallation + "=" + f.installation}
	if ps, err := f.cs.CoreV1().Pods("").List(ctx, sel); err != nil || len(ps.Items) != 0 {
		t.Errorf("pods left after teardown: %d %v", len(ps.Items), err)
	}
	if ds, err := f.cs.AppsV1().Deployments("").List(ctx, sel); err != nil || len(ds.Items) != 0 {
		t.Errorf("deployments left after teardown: %d %v", len(ds.Items), err)
	}
	if code, _, _ := f.get(web.Host, "/"); code != http.StatusNotFound {
		t.Errorf("GET %s after teardown: %d, want the proxy's 404", web.Host, code)
	}
	// Again: nothing to do, no error.
	if err := f.host.Teardown(ctx, env); err != nil {
		t.Fatal(err)
	}
}

func TestNamespaceOfAnotherInstallationIsNotTouched(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	env := f.installation + "-foreign"
	nsName := f.host.Namespace(env)
	if _, err := f.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cs.CoreV1().Namespaces().Delete(context.Background(), nsName, metav1.DeleteOptions{}) })
	err := f.host.Teardown(ctx, env)
	if err == nil || !strings.Contains(err.Error(), "not Slipway's") {
		t.Fatalf("teardown of a namespace Slipway did not make: %v, want a refusal", err)
	}
	if _, err := f.cs.CoreV1().Namespaces().Get(ctx, nsName, metav1.GetOptions{}); err != nil {
		t.Fatalf("the foreign namespace: %v, want it kept", err)
	}
}
