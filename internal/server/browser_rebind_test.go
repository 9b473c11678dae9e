package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/slipway-cd/slipway/internal/store"
)

// TestBrowserOtherSitesCannotAct is the attack of the security issue, in
// Chromium, on a server without an API token: a page of another site tries
// to create a project and run a pipeline, once from its own origin (a
// form and a fetch across origins) and once from a DNS-rebinding name that
// resolves to the server, which makes the browser take the server for the
// page's own origin. Neither creates nor runs anything.
func TestBrowserOtherSitesCannotAct(t *testing.T) {
	tab := uiBrowser(t, chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1"))
	s := uiServer(t, "")
	p := uiProject(t, s, "shop", uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"}))
	_, port, _ := net.SplitHostPort(s.Addr())
	// attack posts a project and a pipeline run at base from the page open
	// in the tab, as a hostile page's script would.
	attack := func(base string) {
		t.Helper()
		js := fmt.Sprintf(`(async () => {
			const opts = {method: "POST", mode: "no-cors", credentials: "include"};
			await fetch(%[1]q + "/api/projects", {...opts, headers: {"Content-Type": "text/plain"}, body: '{"name": "evil", "repo_url": "/tmp"}'}).catch(() => {});
			await fetch(%[1]q + "/ui/projects/%[2]d/pipelines", {...opts, body: new URLSearchParams({ref: "main"})}).catch(() => {});
			return true;
		})()`, base, p.ID)
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("the page's script: %v", err)
		}
	}

	// Another origin: a page on another port of the same machine.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>cats</title><p>cute cats")
	}))
	defer evil.Close()
	uiGo(t, tab, evil.URL)
	attack(s.URL())

	// DNS rebinding: the page's name now resolves to the server, so its
	// requests are same-origin for the browser; only Host tells them apart.
	uiGo(t, tab, fmt.Sprintf("http://rebind.test:%s/", port))
	if body := uiEval[string](t, tab, "document.body.innerText"); !strings.Contains(body, "rebind.test") || !strings.Contains(body, "allowed_hosts") {
		t.Errorf("the rebinding name's page does not say its host is refused:\n%s", body)
	}
	attack("")

	ctx := context.Background()
	if _, err := s.Store.GetProjectByName(ctx, "evil"); err == nil {
		t.Errorf("a page of another site created a project")
	}
	pipes, err := s.Store.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(pipes) != 0 {
		t.Errorf("a page of another site ran %d pipeline(s)", len(pipes))
	}
}
