package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestBrowserGitopsPage is the GitOps page in Chromium, on a server that
// deploys an app of a real git repository onto the real Docker engine: it
// shows the deployment's source commit and the app, Ready, with a link to
// its hostname; a commit on an hourly source is deployed when "Reconcile
// now" is pressed, and the page shows it without a reload; a cross-site
// form cannot press it.
func TestBrowserGitopsPage(t *testing.T) {
	cli := testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	tab := uiBrowser(t)
	artifacts := uiArtifacts(t)
	_, reg := registrytest.Start(t, nil)
	image := reg + "/ui/app:1.0.0"
	testenv.PushImage(t, cli, testenv.BusyboxImage(t, cli), image)
	compose := func(msg string) string {
		return "services:\n  web:\n    image: " + image + "\n" +
			`    command: ["sh", "-c", "mkdir -p /www && echo ` + msg + ` > /www/index.html && exec httpd -f -p 8080 -h /www"]` + "\n" +
			"    x-slipway: {expose: true, port: 8080, health: /}\n"
	}
	work := testenv.GitRepo(t, map[string]string{"apps/web/compose.yaml": compose("first")})
	dep := fmt.Sprintf("u%x", time.Now().UnixNano()&0xffffff)
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	os.WriteFile(gitopsFile, []byte(fmt.Sprintf("sources: [{name: ops, url: %s, interval: 1h}]\n"+
		"deployments: [{name: %s, source: ops, path: apps, interval: 1h}]\n", work, dep)), 0o644)
	proxyAddr := testenv.FreeAddr(t)
	s := uiServer(t, "", func(c *Config) {
		c.Gitops.Config = gitopsFile
		c.Proxy.Embedded.Listen = proxyAddr
		c.Proxy.Embedded.StorageDir = filepath.Join(dir, "caddy")
		c.Proxy.Domain = "ui.example.com"
		c.Environments.Ports = "18040-18999"
	})
	t.Cleanup(func() {
		if err := s.deployer.Teardown(context.Background(), dep+"-web"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	base := s.URL()
	ready := func(rev string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			st := s.gitops.controller.Statuses()[0]
			if st.Condition == gitops.Ready && st.AppliedRevision == rev {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment never Ready at %s: %+v", rev, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	rev1 := testenv.Git(t, work, "rev-parse", "HEAD")
	ready(rev1)

	uiGo(t, tab, base+"/gitops")
	row := `document.querySelector('#deployment-` + dep + ` tr[data-app="web"]')`
	if got := uiEval[string](t, tab, row+`.innerText`); !strings.Contains(got, "Ready") || !strings.Contains(got, rev1[:8]) {
		t.Errorf("the app's row: %q, want Ready at %s", got, rev1[:8])
	}
	link := uiEval[string](t, tab, row+`.querySelector("a").href`)
	host := dep + "-web.ui.example.com"
	if want := "http://" + host + ":" + proxyAddr[strings.LastIndexByte(proxyAddr, ':')+1:] + "/"; link != want {
		t.Errorf("the app's link: %q, want %q", link, want)
	}
	if got := uiEval[string](t, tab, `document.querySelector('#deployment-`+dep+` code.observed').title`); got != rev1 {
		t.Errorf("source commit on the page: %q, want %s", got, rev1)
	}
	if !uiEval[bool](t, tab, `document.querySelector('header nav a[href="/gitops"][aria-current="page"]') !== null`) {
		t.Errorf("the header does not mark the GitOps page")
	}
	uiScreenshot(t, tab, artifacts, "deployed")

	os.WriteFile(filepath.Join(work, "apps/web/compose.yaml"), []byte(compose("second")), 0o644)
	testenv.Git(t, work, "commit", "-qam", "second")
	rev2 := testenv.Git(t, work, "rev-parse", "HEAD")

	// Another site's page posting the button's form is refused.
	req, _ := http.NewRequest("POST", base+"/ui/gitops/"+dep+"/reconcile", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site reconcile: %d, want 403", resp.StatusCode)
	}
	if st := s.gitops.controller.Statuses()[0]; st.ObservedRevision != rev1 {
		t.Fatalf("the hourly source saw %s before Reconcile now", st.ObservedRevision)
	}

	if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`#deployment-`+dep+` form.reconcile button`))); err != nil {
		t.Fatalf("pressing Reconcile now: %v", err)
	}
	if path := uiEval[string](t, tab, "location.pathname"); path != "/gitops" {
		t.Errorf("Reconcile now led to %s, want /gitops", path)
	}
	// The page follows the pass by itself.
	uiPoll(t, tab, "the app's row at the new commit", row+` !== null && `+row+`.innerText.includes("`+rev2[:8]+`")`, 3*time.Minute)
	ready(rev2)
	if got := uiEval[string](t, tab, row+`.innerText`); !strings.Contains(got, rev2[:8]) || !strings.Contains(got, "Updated") {
		t.Errorf("after Reconcile now the app's row: %q, want Updated at %s", got, rev2[:8])
	}
	code, body, err := proxytest.Get(http.DefaultClient, "http://"+proxyAddr+"/", host)
	if err != nil || code != 200 || strings.TrimSpace(body) != "second" {
		t.Errorf("the app through the proxy: %d %q %v, want second", code, body, err)
	}
	uiScreenshot(t, tab, artifacts, "reconciled")
}
