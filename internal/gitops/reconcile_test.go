package gitops_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestReconcileDeploysUpdatesAndLeavesAlone: the first pass deploys the
// app, a pass with nothing new touches nothing, a commit changing the
// image or the command updates it, and so does a tag pushed again to
// another digest, without any commit.
func TestReconcileDeploysUpdatesAndLeavesAlone(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	dep := f.name
	c := f.controller(f.config(src, `  - name: `+dep+`
    source: ops
    path: apps
`), nil)

	st, err := reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	web := app(t, st, "web")
	if st.Condition != gitops.Ready || web.Reason != gitops.ReasonCreated || !web.Changed {
		t.Fatalf("first pass: deployment %s/%s, web %+v", st.Condition, st.Reason, web)
	}
	if got := answer(t, web); got != "one" {
		t.Fatalf("web answers %q, want one", got)
	}
	if st.ObservedRevision != src.head() || st.AppliedRevision != src.head() || web.AppliedRevision != src.head() {
		t.Errorf("revisions: observed %s applied %s (web %s), want %s", st.ObservedRevision, st.AppliedRevision, web.AppliedRevision, src.head())
	}
	if !strings.Contains(web.Services[0].Image, "@sha256:") {
		t.Errorf("web runs %s, not pinned by digest", web.Services[0].Image)
	}
	ids := f.containers(dep, "web")

	st, err = reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	if web = app(t, st, "web"); web.Reason != gitops.ReasonUpToDate || web.Changed {
		t.Errorf("second pass: web %+v, want UpToDate and unchanged", web)
	}
	if again := f.containers(dep, "web"); again["web"] != ids["web"] || len(again) != 1 {
		t.Errorf("a pass with nothing new replaced the containers: %v, then %v", ids, again)
	}

	rev := src.commit("web: v2, with a suffix", map[string]string{
		"apps/web/compose.yaml": strings.Replace(appCompose(f.im.ref("v2")), "    x-slipway:", "    environment:\n      EXTRA: \"-b\"\n    x-slipway:", 1),
	})
	st, err = reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	web = app(t, st, "web")
	if web.Reason != gitops.ReasonUpdated || web.AppliedRevision != rev || st.AppliedRevision != rev {
		t.Fatalf("after the commit: web %+v, deployment applied %s, want Updated at %s", web, st.AppliedRevision, rev)
	}
	if got := answer(t, web); got != "two-b" {
		t.Errorf("web answers %q after the commit, want two-b", got)
	}

	// The tag moves, the commit stays: what runs follows the digest.
	src.commit("web: follow tag live", map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("live"))})
	f.im.push(t, f.im.v1, "live")
	st, err = reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(t, app(t, st, "web")); got != "one" {
		t.Fatalf("web answers %q with live at v1, want one", got)
	}
	f.im.push(t, f.im.v2, "live")
	st, err = reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	web = app(t, st, "web")
	if web.Reason != gitops.ReasonUpdated || !strings.Contains(web.Message, "image") {
		t.Errorf("after the tag moved: web %+v, want Updated naming the image", web)
	}
	if got := answer(t, web); got != "two" {
		t.Errorf("web answers %q after live moved to v2, want two", got)
	}
}

// TestDriftIsPutBackAndNotified: a container removed by hand is back after
// the next pass, and so is one stopped by hand; the pass says it corrected
// drift. Slack hears of the deploy and of the drifts, not of the pass that
// changed nothing.
func TestDriftIsPutBackAndNotified(t *testing.T) {
	f := newFixture(t)
	c, src, slack := f.notifiedWeb()
	dep := f.name

	if _, err := reconcile(t, c, dep); err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile(t, c, dep); err != nil {
		t.Fatal(err)
	}
	// Stopped by hand: started again by a new deploy.
	ids := f.containers(dep, "web")
	timeout := 1
	if _, err := f.im.cli.ContainerStop(context.Background(), ids["web"], client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	st, err := reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); web.Reason != gitops.ReasonDriftCorrected || !strings.Contains(web.Message, "service web is exited") {
		t.Fatalf("after docker stop: web %+v, want DriftCorrected saying it exited", web)
	}
	if got := answer(t, app(t, st, "web")); got != "one" {
		t.Errorf("web answers %q after the stop was corrected, want one", got)
	}

	// Removed by hand: no container is left, the status file remembers.
	ids = f.containers(dep, "web")
	if _, err := f.im.cli.ContainerRemove(context.Background(), ids["web"], client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	st, err = reconcile(t, c, dep)
	if err != nil {
		t.Fatal(err)
	}
	web := app(t, st, "web")
	if web.Reason != gitops.ReasonDriftCorrected || !strings.Contains(web.Message, "no container") {
		t.Fatalf("after docker rm: web %+v, want DriftCorrected naming the service", web)
	}
	if got := answer(t, web); got != "one" {
		t.Errorf("web answers %q after the drift pass, want one", got)
	}
	if again := f.containers(dep, "web"); again["web"] == "" || again["web"] == ids["web"] {
		t.Errorf("containers after the drift pass: %v", again)
	}

	msgs := delivered(t, c, slack)
	if len(msgs) != 3 {
		t.Fatalf("Slack got %d messages, want 3 (deploy, two drifts; none for the no-op pass): %q", len(msgs), msgs)
	}
	if !strings.Contains(msgs[0], "Created: first deploy") || !strings.Contains(msgs[2], "DriftCorrected: drift: no container of the app is left") {
		t.Errorf("Slack messages do not say what changed: %q", msgs)
	}
	for _, m := range msgs {
		if !strings.Contains(m, "gitops/"+dep) || !strings.Contains(m, "web") || !strings.Contains(m, shortSHA(src.head())) {
			t.Errorf("Slack message lacks the deployment, the app or the commit: %s", m)
		}
	}
}

// TestDeploymentsWithoutNotifyUseTheNotifier: a deployment with no notify
// targets of its own reports to the given notifier (the server's), which
// Close leaves open for its owner.
func TestDeploymentsWithoutNotifyUseTheNotifier(t *testing.T) {
	f := newFixture(t)
	slack := &recorder{}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	targets, err := notify.Config{{Type: "slack", URL: srv.URL + "/hooks/server"}}.Targets(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range targets {
		targets[i].Events = nil
	}
	notifier := notify.NewDispatcher(targets, notify.Options{Logger: quiet()})
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(f.config(src, "  - {name: "+f.name+", source: ops, path: apps}\n")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: f.state, Deployer: f.deployer, Notifier: notifier, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile(t, c, f.name); err != nil {
		t.Fatal(err)
	}
	stop(t, c)
	notifier.Notify(notify.Event{Kind: notify.KindJob, Status: notify.Success, Project: notify.Project{Name: "after-close"},
		Job: &notify.Job{ID: 1, Name: "still-open"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := notifier.Close(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := slack.all()
	if len(msgs) != 2 || !strings.Contains(msgs[0], "/hooks/server") || !strings.Contains(msgs[0], "gitops/"+f.name) ||
		!strings.Contains(msgs[0], "Created") || !strings.Contains(msgs[1], "still-open") {
		t.Errorf("the server's notifier got %q, want the app's deploy, then an event sent after the controller closed", msgs)
	}
}

// TestPruneRemovesOnlyWhenAsked: an app folder removed from git takes its
// containers with it when the deployment prunes, and stays otherwise.
func TestPruneRemovesOnlyWhenAsked(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{
		"pruned/web/compose.yaml": appCompose(f.im.ref("v1")),
		"kept/web/compose.yaml":   appCompose(f.im.ref("v1")),
	})
	pruned, kept := f.name+"-p", f.name+"-k"
	c := f.controller(f.config(src, `  - name: `+pruned+`
    source: ops
    path: pruned
    prune: true
  - name: `+kept+`
    source: ops
    path: kept
    prune: false
`), nil)
	if _, err := reconcile(t, c, pruned); err != nil {
		t.Fatal(err)
	}
	keptIDs := f.containers(kept, "web")
	if len(f.containers(pruned, "web")) != 1 || len(keptIDs) != 1 {
		t.Fatalf("not deployed: %v %v", f.containers(pruned, "web"), keptIDs)
	}
	// Both deployments keep a placeholder so that their paths still exist.
	src.commit("remove web", map[string]string{
		"pruned/web": "", "kept/web": "",
		"pruned/README": "no apps", "kept/README": "no apps",
	})
	st, err := reconcile(t, c, pruned)
	if err != nil {
		t.Fatal(err)
	}
	if a := app(t, st, "web"); a.Reason != gitops.ReasonPruned {
		t.Errorf("pruned deployment: web %+v, want Pruned", a)
	}
	if left := f.containers(pruned, "web"); len(left) != 0 {
		t.Errorf("prune: true left containers %v", left)
	}
	st, err = gitops.ReadStatus(f.state, kept)
	if err != nil {
		t.Fatal(err)
	}
	if a := app(t, st, "web"); a.Reason != gitops.ReasonOrphaned || a.Condition != gitops.Ready {
		t.Errorf("kept deployment: web %+v, want Ready/Orphaned", a)
	}
	if now := f.containers(kept, "web"); now["web"] != keptIDs["web"] {
		t.Errorf("prune: false changed the containers: %v, then %v", keptIDs, now)
	}
}

// TestBrokenAppsStallAloneWithTheirError: a compose.yaml with a mistake
// and an image that does not exist stall their apps with the error (the
// file, line and column for the first); the good app deploys all the same.
// Slack and the source's commit statuses hear of each failure once, not
// again on the next pass.
func TestBrokenAppsStallAloneWithTheirError(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{
		"apps/good/compose.yaml": appCompose(f.im.ref("v1")),
		"apps/bad/compose.yaml":  strings.Replace(appCompose(f.im.ref("v1")), "port: 8080", "port: eighty", 1),
		"apps/gone/compose.yaml": appCompose(f.im.ref("no-such-tag")),
	})
	dep := f.name
	slack, github := &recorder{}, &recorder{}
	srv, api := httptest.NewServer(slack), httptest.NewServer(github)
	defer srv.Close()
	defer api.Close()
	c := f.controller(f.config(src, `  - name: `+dep+`
    source: ops
    path: apps
    notify:
      - {type: slack, url: "`+srv.URL+`"}
      - {type: github, base_url: "`+api.URL+`", token: t0ken, repo: acme/ops, context: gitops}
`), nil)
	st, err := reconcile(t, c, dep)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 apps failed: bad, gone") {
		t.Errorf("ReconcileAll error = %v, want the failed apps named", err)
	}
	if st.Condition != gitops.Stalled {
		t.Errorf("deployment %s, want Stalled", st.Condition)
	}
	bad := app(t, st, "bad")
	if bad.Condition != gitops.Stalled || bad.Reason != gitops.ReasonInvalid ||
		!strings.HasPrefix(bad.Message, "apps/bad/compose.yaml:7:7: services.web.x-slipway.port") {
		t.Errorf("bad: %+v, want Stalled/InvalidSpec at apps/bad/compose.yaml:7:7", bad)
	}
	gone := app(t, st, "gone")
	if gone.Condition != gitops.Stalled || gone.Reason != gitops.ReasonDeployFailed || !strings.Contains(gone.Message, "no-such-tag") {
		t.Errorf("gone: %+v, want Stalled/DeployFailed naming the image", gone)
	}
	good := app(t, st, "good")
	if good.Condition != gitops.Ready {
		t.Fatalf("good: %+v", good)
	}
	if got := answer(t, good); got != "one" {
		t.Errorf("good answers %q", got)
	}
	saved, err := gitops.ReadStatus(f.state, dep)
	if err != nil {
		t.Fatal(err)
	}
	if a := app(t, saved, "bad"); a.Message != bad.Message {
		t.Errorf("status file: bad %+v", a)
	}

	// The same failures again are no news.
	if _, err := reconcile(t, c, dep); err == nil {
		t.Error("second pass: no error")
	}
	msgs := delivered(t, c, slack)
	if len(msgs) != 3 {
		t.Fatalf("Slack got %d messages, want 3 (bad and gone failed, good created): %q", len(msgs), msgs)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "apps/bad/compose.yaml:7:7") {
		t.Errorf("no Slack message names the mistake's position: %q", msgs)
	}
	statuses := strings.Join(github.all(), "\n")
	for _, want := range []string{
		"/repos/acme/ops/statuses/" + src.head() + ` {"state":"failure","description":"Job bad failed","context":"gitops/bad"}`,
		"/repos/acme/ops/statuses/" + src.head() + ` {"state":"success","description":"Job good passed","context":"gitops/good"}`,
	} {
		if !strings.Contains(statuses, want) {
			t.Errorf("commit statuses lack %s:\n%s", want, statuses)
		}
	}
}

// TestRestartConvergesWithoutRedeploying: a new controller, with the state
// folder of a run cut short mid-deploy or with none at all, finds the apps
// running from their labels and deploys nothing. Two controllers never
// share a state folder.
func TestRestartConvergesWithoutRedeploying(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	dep := f.name
	cfg := f.config(src, `  - name: `+dep+`
    source: ops
    path: apps
`)
	first := f.controller(cfg, nil)
	if _, err := reconcile(t, first, dep); err != nil {
		t.Fatal(err)
	}
	ids := f.containers(dep, "web")
	if _, err := f.open(cfg, nil); !errors.Is(err, gitops.ErrLocked) {
		t.Fatalf("a second controller on the state folder: %v, want ErrLocked", err)
	}
	stop(t, first)

	// A run killed mid-deploy left its status at Reconciling.
	file := filepath.Join(f.state, "status", dep+".json")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var st gitops.DeploymentStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st.Condition, st.Apps[0].Condition = gitops.Reconciling, gitops.Reconciling
	b, _ = json.Marshal(st)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = reconcile(t, f.controller(cfg, nil), dep)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); st.Condition != gitops.Ready || web.Reason != gitops.ReasonUpToDate || web.AppliedRevision != src.head() {
		t.Errorf("after a restart: %s, web %+v", st.Condition, web)
	}

	// A new state folder: everything is read back from Docker.
	f.state = t.TempDir()
	st, err = reconcile(t, f.controller(cfg, nil), dep)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); web.Reason != gitops.ReasonUpToDate || web.AppliedRevision != src.head() || st.AppliedRevision != src.head() {
		t.Errorf("with a fresh state folder: web %+v, applied %s", web, st.AppliedRevision)
	}
	if now := f.containers(dep, "web"); now["web"] != ids["web"] {
		t.Errorf("a restart redeployed: %v, then %v", ids, now)
	}
}

// TestRunFollowsNewCommits: the controller loop deploys a commit pushed
// while it runs, and stops when its context ends.
func TestRunFollowsNewCommits(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	dep := f.name
	c := f.controller(strings.Replace(f.config(src, `  - name: `+dep+`
    source: ops
    path: apps
`), "    branch: main\n", "    branch: main\n    interval: 1s\n", 1), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitApp := func(rev string) gitops.AppStatus {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if st, err := gitops.ReadStatus(f.state, dep); err == nil && st.Condition == gitops.Ready && st.AppliedRevision == rev {
				return app(t, st, "web")
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("deployment never Ready at %s", rev)
		return gitops.AppStatus{}
	}
	if got := answer(t, waitApp(src.head())); got != "one" {
		t.Errorf("web answers %q, want one", got)
	}
	rev := src.commit("web: v2", map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v2"))})
	if got := answer(t, waitApp(rev)); got != "two" {
		t.Errorf("web answers %q after the commit, want two", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestReconcileAsksRunForAPassNow: with hourly intervals, a commit is
// deployed only when Reconcile asks; each pass is Reported, and the app's
// last change moves with the deploy.
func TestReconcileAsksRunForAPassNow(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	dep := f.name
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(strings.Replace(f.config(src, `  - name: `+dep+`
    source: ops
    path: apps
    interval: 1h
`), "    branch: main\n", "    branch: main\n    interval: 1h\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	reported := make(chan gitops.DeploymentStatus, 10)
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: f.state, Deployer: f.deployer, Logger: quiet(),
		Reported: func(st gitops.DeploymentStatus) { reported <- st }})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	if err := c.Reconcile("nope"); !errors.Is(err, gitops.ErrUnknownDeployment) {
		t.Errorf("Reconcile of an unknown deployment: %v", err)
	}
	if st := c.Statuses(); len(st) != 1 || st[0].Condition != gitops.Reconciling || st[0].Message != "not reconciled yet" {
		t.Errorf("Statuses before any pass: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pass := func(what string) gitops.DeploymentStatus {
		t.Helper()
		select {
		case st := <-reported:
			return st
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s: no pass reported", what)
		}
		return gitops.DeploymentStatus{}
	}
	first := pass("the first pass")
	if first.Condition != gitops.Ready || first.AppliedRevision != src.head() {
		t.Fatalf("first pass: %+v", first)
	}
	changed := app(t, first, "web").LastChange
	if changed.IsZero() {
		t.Errorf("the deployed app has no last change")
	}
	rev := src.commit("web: v2", map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v2"))})
	if err := c.Reconcile(dep); err != nil {
		t.Fatal(err)
	}
	st := pass("the pass asked for")
	if st.Condition != gitops.Ready || st.AppliedRevision != rev || answer(t, app(t, st, "web")) != "two" {
		t.Fatalf("the pass asked for: %+v", st)
	}
	if !app(t, st, "web").LastChange.After(changed) {
		t.Errorf("the app's last change did not move with its update")
	}
	if got := c.Statuses(); len(got) != 1 || got[0].AppliedRevision != rev {
		t.Errorf("Statuses: %+v", got)
	}
	select {
	case st := <-reported:
		t.Errorf("a pass nobody asked for within the hour: %+v", st)
	default:
	}
}

// notifiedWeb is a controller of a deployment named after the test, with
// the app web at v1 and a Slack target that rec records.
func (f *fixture) notifiedWeb() (c *gitops.Controller, src *gitSource, rec *recorder) {
	rec = &recorder{}
	srv := httptest.NewServer(rec)
	f.t.Cleanup(srv.Close)
	src = newSource(f.t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	getenv := func(k string) string { return map[string]string{"TEST_SLACK_URL": srv.URL + "/hooks/secret"}[k] }
	c = f.controller(f.config(src, `  - name: `+f.name+`
    source: ops
    path: apps
    notify:
      - {type: slack, url_env: TEST_SLACK_URL}
`), getenv)
	return c, src, rec
}

// recorder records the requests posted to it: path, a space, body.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (s *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.msgs = append(s.msgs, r.URL.Path+" "+string(b))
	s.mu.Unlock()
	w.Write([]byte("ok"))
}

func (s *recorder) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// delivered closes the controller, which delivers the queued
// notifications, and returns what rec got.
func delivered(t *testing.T, c *gitops.Controller, rec *recorder) []string {
	t.Helper()
	stop(t, c)
	return rec.all()
}

// stop closes the controller as a process ending would.
func stop(t *testing.T, c *gitops.Controller) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func shortSHA(sha string) string { return sha[:8] }

// TestSourceTokenFromCredentialsRef: a private repository over HTTP is
// fetched with the token its credentials_ref names; without the variable
// the deployment stalls saying which is missing, and the token is never
// written in the status.
func TestSourceTokenFromCredentialsRef(t *testing.T) {
	const token = "glpat-gitops-secret"
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/README": "no app yet"})
	testenv.Git(t, src.bare, "update-server-info")
	files := http.FileServer(http.Dir(src.bare))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := strings.Replace(f.config(src, `  - name: `+f.name+`
    source: ops
    path: apps
`), "url: "+src.bare, "url: "+srv.URL+"/\n    credentials_ref: env:SLIPWAY_GIT_OPS", 1)

	without := f.controller(cfg, func(string) string { return "" })
	st, err := reconcile(t, without, f.name)
	stop(t, without)
	if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonSourceFailed || !strings.Contains(st.Message, "$SLIPWAY_GIT_OPS is not set") {
		t.Errorf("without the variable: %s/%s %q, err %v", st.Condition, st.Reason, st.Message, err)
	}
	// Stalled before any app was seen: the API still shows a list of apps.
	if b, err := os.ReadFile(filepath.Join(f.state, "status", f.name+".json")); err != nil || !strings.Contains(string(b), `"apps": []`) {
		t.Errorf("status file of a deployment stalled at its first pass (err %v), want an empty list of apps:\n%s", err, b)
	}
	st, err = reconcile(t, f.controller(cfg, func(k string) string {
		if k == "SLIPWAY_GIT_OPS" {
			return token
		}
		return ""
	}), f.name)
	if err != nil || st.Condition != gitops.Ready || st.ObservedRevision != src.head() {
		t.Errorf("with the token: %+v, err %v", st, err)
	}
	b, err := os.ReadFile(filepath.Join(f.state, "status", f.name+".json"))
	if err != nil || strings.Contains(string(b), token) {
		t.Errorf("status file (err %v) holds the token:\n%s", err, b)
	}
}

// TestStoppedPassReportsNoFailure: a pass cut short because the controller
// stops (SIGTERM in the middle of a deploy, or before its fetch) is not a
// failure: nothing is notified and the status file keeps the app
// Reconciling, as after a crash, for the next pass to finish.
func TestStoppedPassReportsNoFailure(t *testing.T) {
	f := newFixture(t)
	c, src, slack := f.notifiedWeb()
	dep := f.name
	if _, err := reconcile(t, c, dep); err != nil {
		t.Fatal(err)
	}

	// v2 never answers its health check: the deploy waits until stopped.
	src.commit("web: v2, never healthy", map[string]string{"apps/web/compose.yaml": strings.Replace(appCompose(f.im.ref("v2")),
		`command: ["sh", "-c", "mkdir -p /www && echo $$MESSAGE$$EXTRA > /www/index.html && exec httpd -f -p 8080 -h /www"]`,
		`command: ["sleep", "3600"]`, 1)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.ReconcileAll(ctx); done <- err }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := gitops.ReadStatus(f.state, dep)
		if a, ok := st.App("web"); err == nil && ok && a.Condition == gitops.Reconciling {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the deploy of v2 never showed as Reconciling: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("ReconcileAll did not return after its context ended")
	}
	st, err := gitops.ReadStatus(f.state, dep)
	if err != nil {
		t.Fatal(err)
	}
	if web := app(t, st, "web"); web.Condition != gitops.Reconciling || st.Condition == gitops.Stalled {
		t.Errorf("after a stop mid-deploy the status says %s/%s, web %s %s: %s", st.Condition, st.Reason, web.Condition, web.Reason, web.Message)
	}

	// Stopped before the fetch: the status stays as it was, not SourceFailed.
	if _, err := c.ReconcileAll(ctx); err == nil {
		t.Error("a pass on an ended context reports no error")
	}
	if again, err := gitops.ReadStatus(f.state, dep); err != nil || again.Reason == gitops.ReasonSourceFailed {
		t.Errorf("after a pass on an ended context the status is %+v (%v)", again, err)
	}

	msgs := delivered(t, c, slack)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Created") {
		t.Errorf("Slack got %q, want only the first deploy (a stop is no failure)", msgs)
	}
}

// TestPathThroughALinkOutOfTheRepositoryStalls: a deployment's path that a
// symbolic link of the repository leads out of it (hosts/prod, hosts -> a
// folder of the host) is refused: the controller never deploys the host's files.
func TestPathThroughALinkOutOfTheRepositoryStalls(t *testing.T) {
	f := newFixture(t)
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "prod", "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "prod", "web", "compose.yaml"), []byte(appCompose(f.im.ref("v1"))), 0o644); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, map[string]string{"README": "ops\n"})
	if err := os.Symlink(outside, filepath.Join(src.work, "hosts")); err != nil {
		t.Fatal(err)
	}
	src.commit("hosts: a link out of the repository", nil)
	c := f.controller(f.config(src, "  - {name: "+f.name+", source: ops, path: hosts/prod}\n"), nil)
	st, err := reconcile(t, c, f.name)
	if err == nil || st.Reason != gitops.ReasonSourceFailed || !strings.Contains(st.Message, `"hosts/prod"`) {
		t.Errorf("a path through a link out of the repository: %s/%s %q (%v), want SourceFailed naming it", st.Condition, st.Reason, st.Message, err)
	}
	if ids := f.containers(f.name, "web"); len(ids) != 0 {
		t.Errorf("the host's compose.yaml was deployed: %v", ids)
	}
}

// TestUnsetVariableIsAnInvalidSpec: GitOps gives an app no variables, so a
// ${SUFFIX} without a default would deploy as an empty string: the app
// stalls with InvalidSpec naming the file, line, column and variable, and
// nothing of it runs. ${SUFFIX:-value} deploys with its default.
func TestUnsetVariableIsAnInvalidSpec(t *testing.T) {
	f := newFixture(t)
	withExtra := func(extra string) string {
		return strings.Replace(appCompose(f.im.ref("v1")), "    x-slipway:", "    environment:\n      EXTRA: \""+extra+"\"\n    x-slipway:", 1)
	}
	src := newSource(t, map[string]string{
		"apps/unset/compose.yaml":   withExtra("-${SUFFIX}-${OTHER}"),
		"apps/default/compose.yaml": withExtra("-${SUFFIX:-plain}"),
		"more/unset/compose.yaml":   withExtra("-${SUFFIX}"),
	})
	dep := f.name
	c := f.controller(f.config(src, "  - name: "+dep+"\n    source: ops\n    path: apps\n  - name: "+dep+"-more\n    source: ops\n    path: more\n"), nil)
	st, err := reconcile(t, c, dep)
	unset := app(t, st, "unset")
	want := "apps/unset/compose.yaml:6:16: ${SUFFIX}: variable SUFFIX is not set"
	if unset.Condition != gitops.Stalled || unset.Reason != gitops.ReasonInvalid || !strings.HasPrefix(unset.Message, want) {
		t.Errorf("unset: %+v, want Stalled/InvalidSpec %q", unset, want)
	}
	// Both variables are named, on the one line a status message has; the
	// pass's error names both deployments on one line too.
	if !strings.Contains(unset.Message, "apps/unset/compose.yaml:6:26: ${OTHER}") || strings.Contains(unset.Message, "\n") {
		t.Errorf("unset's message %q, want both variables on one line", unset.Message)
	}
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "deployment "+dep+": ") ||
		!strings.Contains(err.Error(), "deployment "+dep+"-more: ") {
		t.Errorf("the pass's error %q, want both deployments on one line", err)
	}
	if ids := f.containers(dep, "unset"); len(ids) != 0 {
		t.Errorf("the app with an unset variable runs: %v", ids)
	}
	if got := answer(t, app(t, st, "default")); got != "one-plain" {
		t.Errorf("default answers %q, want one-plain", got)
	}
}

// TestRemovedDeploymentLeavesNoStaleStatus: a deployment taken out of the
// config is no longer shown by status (its last status stayed for ever,
// as if it were still reconciled).
func TestRemovedDeploymentLeavesNoStaleStatus(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/README": "no app"})
	kept, gone := f.name+"-kept", f.name+"-gone"
	both := f.controller(f.config(src, "  - {name: "+kept+", source: ops, path: apps}\n  - {name: "+gone+", source: ops, path: apps}\n"), nil)
	if _, err := both.ReconcileAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop(t, both)
	one := f.controller(f.config(src, "  - {name: "+kept+", source: ops, path: apps}\n"), nil)
	if _, err := one.ReconcileAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, err := gitops.ReadStatuses(f.state)
	if err != nil || len(all) != 1 || all[0].Name != kept {
		t.Errorf("statuses after %s left the config: %+v, %v; want %s alone", gone, all, err, kept)
	}
}

// TestRunSaysAChangedConfigWaitsForARestart: run reads its config once; a
// change of the file is logged as waiting for a restart, never silently
// ignored.
func TestRunSaysAChangedConfigWaitsForARestart(t *testing.T) {
	f := newFixture(t)
	src := newSource(t, map[string]string{"apps/README": "no app"})
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	yamlText := strings.Replace(f.config(src, "  - {name: "+f.name+", source: ops, path: apps}\n"), "    branch: main\n", "    branch: main\n    interval: 1s\n", 1)
	if err := os.WriteFile(file, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gitops.LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: f.state, Deployer: f.deployer, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		stop(t, c)
	}()
	if err := os.WriteFile(file, []byte(yamlText+"  - {name: "+f.name+"-new, source: ops, path: apps}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(logs.String(), "the config file changed") {
		if time.Now().After(deadline) {
			t.Fatalf("no word of the changed config in a minute:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAnotherInstallationsAppsAreNeverPruned: two controllers (two
// installations, as two Slipways on one Docker engine) with a deployment
// of the same name. The second neither prunes nor takes over the first's
// app: it stalls its own app of the same name with the reason.
func TestAnotherInstallationsAppsAreNeverPruned(t *testing.T) {
	f := newFixture(t)
	srcA := newSource(t, map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v1"))})
	srcB := newSource(t, map[string]string{"apps/README": "no app yet"})
	dep := `  - name: ` + f.name + `
    source: ops
    path: apps
    prune: true
`
	a := f.controller(f.config(srcA, dep), nil)
	if st, err := reconcile(t, a, f.name); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("a: %v %+v", err, st)
	}
	ids := f.containers(f.name, "web")
	cfgB, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(f.config(srcB, dep)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gitops.New(gitops.Options{Config: cfgB, StateDir: t.TempDir(), Deployer: f.deployer, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	st, err := reconcile(t, b, f.name)
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("b: %v %+v", err, st)
	}
	if _, ok := st.App("web"); ok {
		t.Errorf("b sees a's app as its own: %+v", st.Apps)
	}
	if now := f.containers(f.name, "web"); now["web"] != ids["web"] {
		t.Fatalf("b's pass changed a's app: %v, then %v", ids, now)
	}
	srcB.commit("same app name", map[string]string{"apps/web/compose.yaml": appCompose(f.im.ref("v2"))})
	st, err = reconcile(t, b, f.name)
	if w := app(t, st, "web"); err == nil || w.Condition != gitops.Stalled || !strings.Contains(w.Message, "already exists") {
		t.Errorf("b's app of the same name: %v %+v", err, w)
	}
	if now := f.containers(f.name, "web"); now["web"] != ids["web"] {
		t.Errorf("b took over a's app: %v, then %v", ids, now)
	}
	if st, err := reconcile(t, a, f.name); err != nil || app(t, st, "web").Reason != gitops.ReasonUpToDate {
		t.Errorf("a after b's passes: %v %+v", err, st)
	}
}
