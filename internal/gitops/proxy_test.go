package gitops_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
)

// TestAppsAnswerOnTheirHostname: with a proxy, an app answers on
// {deployment}-{app}.{domain}; a controller restarted with a fresh
// embedded proxy gives it the route again without redeploying.
func TestAppsAnswerOnTheirHostname(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	cfg := f.config(src, `  - name: `+f.name+`
    source: ops
    path: apps
`)
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 29040, High: 29999})
	if err != nil {
		t.Fatal(err)
	}
	withProxy := func() *embedded.Router {
		// :0, so that no other process can take the port between a check
		// and the listen.
		r, err := embedded.Start(context.Background(), embedded.Config{Listen: "127.0.0.1:0", StorageDir: t.TempDir(), LogLevel: "ERROR", GracePeriod: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.deployer, err = dockerhost.New(dockerhost.Options{
			Client: f.im.cli, Ports: alloc, Router: r, Hostnames: proxy.Hostnames{Domain: "gitops.test"},
			Drain: 100 * time.Millisecond, StopTimeout: time.Second, Logger: quiet(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	host := f.name + "-web.gitops.test"
	hc := &http.Client{Timeout: 10 * time.Second}

	r := withProxy()
	c := f.controller(cfg, nil)
	st, err := reconcile(t, c, f.name)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); len(web.Services) != 1 || web.Services[0].Host != host {
		t.Fatalf("web: %+v, want host %s", web, host)
	}
	if code, body, err := proxytest.Get(hc, "http://"+r.Addr()+"/", host); err != nil || code != 200 || strings.TrimSpace(body) != "one" {
		t.Fatalf("GET %s through the proxy: %d %q %v", host, code, body, err)
	}
	ids := f.containers(f.name, "web")
	stop(t, c)
	r.Close()

	r = withProxy()
	defer r.Close()
	st, err = reconcile(t, f.controller(cfg, nil), f.name)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); web.Reason != gitops.ReasonUpToDate {
		t.Errorf("after the restart: web %+v, want UpToDate", web)
	}
	if now := f.containers(f.name, "web"); now["web"] != ids["web"] {
		t.Errorf("the restart redeployed: %v, then %v", ids, now)
	}
	if code, body, err := proxytest.Get(hc, "http://"+r.Addr()+"/", host); err != nil || code != 200 || strings.TrimSpace(body) != "one" {
		t.Errorf("GET %s through the new proxy: %d %q %v", host, code, body, err)
	}
}

// TestHostnameChangeRedeploys: an app deployed without a proxy gets its
// hostname once the controller has one (the --domain of a later run), and
// a changed or removed domain changes it again; an unchanged one does not
// redeploy. Before, compare never looked at the hostname: the app kept
// none until git changed.
func TestHostnameChangeRedeploys(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	cfg := f.config(src, "  - name: "+f.name+"\n    source: ops\n    path: apps\n")
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 29040, High: 29999})
	if err != nil {
		t.Fatal(err)
	}
	r, err := embedded.Start(context.Background(), embedded.Config{Listen: "127.0.0.1:0", StorageDir: t.TempDir(), LogLevel: "ERROR", GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hc := &http.Client{Timeout: 10 * time.Second}
	pass := func(domain string) gitops.AppStatus {
		t.Helper()
		o := dockerhost.Options{Client: f.im.cli, Ports: alloc, Drain: 100 * time.Millisecond, StopTimeout: time.Second, Logger: quiet()}
		if domain != "" {
			o.Router, o.Hostnames = r, proxy.Hostnames{Domain: domain}
		}
		if f.deployer, err = dockerhost.New(o); err != nil {
			t.Fatal(err)
		}
		c := f.controller(cfg, nil)
		defer stop(t, c)
		st, err := reconcile(t, c, f.name)
		if err != nil {
			t.Fatal(err)
		}
		return app(t, st, "web")
	}
	answers := func(host string) bool {
		t.Helper()
		code, body, err := proxytest.Get(hc, "http://"+r.Addr()+"/", host)
		return err == nil && code == 200 && strings.TrimSpace(body) == "one"
	}

	if web := pass(""); len(web.Services) != 1 || web.Services[0].Host != "" {
		t.Fatalf("without a proxy: %+v, want no hostname", web)
	}
	for _, domain := range []string{"gitops.test", "other.test"} {
		host := f.name + "-web." + domain
		web := pass(domain)
		if web.Reason != gitops.ReasonUpdated || len(web.Services) != 1 || web.Services[0].Host != host || !strings.Contains(web.Message, "hostname") {
			t.Errorf("with domain %s: %+v, want Updated with host %s", domain, web, host)
		}
		if !answers(host) {
			t.Errorf("%s does not answer through the proxy", host)
		}
	}
	if answers(f.name + "-web.gitops.test") {
		t.Errorf("the hostname of the old domain still answers")
	}
	if web := pass("other.test"); web.Reason != gitops.ReasonUpToDate {
		t.Errorf("the same domain again: %+v, want UpToDate", web)
	}
	if web := pass(""); web.Reason != gitops.ReasonUpdated || len(web.Services) != 1 || web.Services[0].Host != "" {
		t.Errorf("without a proxy again: %+v, want Updated without a hostname", web)
	}
}
