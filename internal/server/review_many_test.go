package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// A small review app: busybox httpd serving an injected page, from an image
// pushed to the server's registry beforehand ("prebuilt images").
const webCompose = `
services:
  web:
    image: ${CI_REGISTRY_IMAGE}/web:mr-${CI_MERGE_REQUEST_IID}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    x-slipway:
      expose: true
      main: true
      port: 8080
      health: /
      files:
        - path: /www/index.html
          content: "review of ${CI_COMMIT_REF_NAME}"
`

func webPipeline(autoStop, stopScript string) string {
	return `
deploy:
  script: [slipway env deploy --compose compose.yaml]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    url: http://$CI_ENVIRONMENT_SLUG.review.example.com
    on_stop: stop
    auto_stop_in: ` + autoStop + `
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
stop:
  script: ` + stopScript + `
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: manual
`
}

// pushWebImages tags the local busybox image for merge requests 1..n in
// the server's registry and pushes it, signed in with the server's token.
func pushWebImages(t testing.TB, s *serverProc, n int) {
	t.Helper()
	cli := testenv.Docker(t)
	busybox := testenv.BusyboxImage(t, cli)
	for i := 1; i <= n; i++ {
		ref := fmt.Sprintf("%s/shop/web:mr-%d", strings.TrimPrefix(s.url, "http://"), i)
		testenv.PushImageAs(t, cli, busybox, ref, "ci", s.token)
	}
}

func webProject(t testing.TB, autoStop string, images int) (*serverProc, string, string) {
	return webProjectStop(t, autoStop, "[slipway env stop]", images)
}

func webProjectStop(t testing.TB, autoStop, stopScript string, images int) (*serverProc, string, string) {
	return webProjectFiles(t, webPipeline(autoStop, stopScript), images)
}

// webProjectPipeline is a web project with a pipeline of its own.
func webProjectPipeline(t testing.TB, pipelineFile string) (*serverProc, string, string) {
	return webProjectFiles(t, pipelineFile, 1)
}

func webProjectFiles(t testing.TB, pipelineFile string, images int) (*serverProc, string, string) {
	t.Helper()
	return webProjectWith(t, pipelineFile, webCompose, "", images)
}

// webProjectWith is webProjectFiles with a Compose file and environments
// settings (see reviewServerWith) of its own.
func webProjectWith(t testing.TB, pipelineFile, composeFile, envExtra string, images int) (*serverProc, string, string) {
	t.Helper()
	repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": pipelineFile, "compose.yaml": composeFile})
	s, proxyAddr := reviewServerWith(t, envExtra, "")
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "webhook_secret": secret}, nil); code != 201 {
		t.Fatal(code)
	}
	pushWebImages(t, s, images)
	return s, proxyAddr, sha
}

// mergeRequest sends a GitLab merge request event with an IID of its own.
func mergeRequest(t testing.TB, s *serverProc, iid int, action, branch, sha string) pipeline {
	t.Helper()
	attrs := map[string]any{
		"iid": iid, "title": "MR", "action": action, "source_branch": branch, "target_branch": "main",
		"last_commit": map[string]any{"id": sha},
	}
	code, p := s.hook("Merge Request Hook", map[string]any{
		"object_kind":       "merge_request",
		"project":           map[string]any{"path_with_namespace": "mute/app"},
		"object_attributes": attrs,
	})
	if (action == "open" && code != 202) || code >= 400 {
		t.Fatalf("merge request %d %s: %d", iid, action, code)
	}
	return p
}

var safeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// TestManyReviewEnvironmentsAndAHostileBranch: 20 merge requests at once
// (one from a branch named to break things) get 20 distinct ports and
// routes with safe names, and are all torn down when closed.
func TestManyReviewEnvironmentsAndAHostileBranch(t *testing.T) {
	const n = 20
	s, proxyAddr, sha := webProject(t, "1 day", n)
	branch := func(i int) string {
		if i == 1 {
			return "Feature/../../etc; rm -rf $HOME"
		}
		return fmt.Sprintf("feature/mr-%d", i)
	}
	var wg sync.WaitGroup
	ids := make([]int64, n+1)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = mergeRequest(t, s, i, "open", branch(i), sha).ID
		}()
	}
	wg.Wait()
	for i := 1; i <= n; i++ {
		p := s.waitPipeline(ids[i], func(p pipeline) bool {
			return p.job("deploy").Status != "created" && p.job("deploy").Status != "pending" && p.job("deploy").Status != "running"
		})
		if p.job("deploy").Status != "success" {
			t.Fatalf("merge request %d: deploy %s\n%s", i, p.job("deploy").Status, s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("deploy").ID)))
		}
	}
	var routes []struct {
		ID        string
		Hosts     []string
		Upstreams []struct{ Addr string }
	}
	s.do("GET", "/api/proxy/routes", nil, &routes)
	ports := map[string]bool{}
	for _, r := range routes {
		if !safeName.MatchString(strings.TrimPrefix(r.ID, "slipway-")) && !regexp.MustCompile(`^slipway-[a-z0-9-]+--[a-z0-9-]+$`).MatchString(r.ID) {
			t.Errorf("route id %q is not made of slugs", r.ID)
		}
		for _, h := range r.Hosts {
			label, _, _ := strings.Cut(h, ".")
			if !safeName.MatchString(label) || !strings.HasSuffix(h, ".review.example.com") {
				t.Errorf("hostname %q", h)
			}
			code, body, err := viaProxy(proxyAddr, h, "/")
			if err != nil || code != 200 || !strings.HasPrefix(body, "review of ") {
				t.Errorf("%s: %d %q %v", h, code, body, err)
			}
		}
		for _, u := range r.Upstreams {
			ports[u.Addr] = true
		}
	}
	if len(routes) != n || len(ports) != n {
		t.Errorf("%d routes on %d distinct ports, want %d of each", len(routes), len(ports), n)
	}
	// The hostile branch: its name is data everywhere, never a path, a
	// shell word or a hostname.
	hostile := s.environment("review/" + slug.Ref(branch(1)))
	if hostile.ID == 0 || !safeName.MatchString(hostile.Slug) || hostile.HostKey == "" {
		t.Errorf("hostile branch environment: %+v", hostile)
	}
	if code, body, _ := viaProxy(proxyAddr, hostile.host(""), "/"); code != 200 || body != "review of Feature/../../etc; rm -rf $HOME" {
		t.Errorf("hostile branch app: %d %q", code, body)
	}
	cli := testenv.Docker(t)
	containers, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", "slipway.env="+hostile.HostKey)})
	if err != nil || len(containers.Items) != 1 {
		t.Fatalf("hostile environment containers: %v %v", containers.Items, err)
	}
	for _, name := range containers.Items[0].Names {
		if strings.ContainsAny(name[1:], "/;$ .") {
			t.Errorf("container name %q", name)
		}
	}

	// Every merge request closed: nothing is left of any of them.
	envs := map[int]environment{}
	for i := 1; i <= n; i++ {
		envs[i] = s.environment("review/" + slug.Ref(branch(i)))
	}
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mergeRequest(t, s, i, "close", branch(i), sha)
		}()
	}
	wg.Wait()
	for i := 1; i <= n; i++ {
		if st := s.waitEnvironment(envs[i].Name, "stopped"); st != "stopped" {
			t.Fatalf("%s: %s after close\n%s", envs[i].Name, st, s.jobReport(ids[i], "stop"))
		}
		checkNothingLeft(t, s, envs[i], proxyAddr, envs[i].host(""))
	}
	s.do("GET", "/api/proxy/routes", nil, &routes)
	if len(routes) != 0 {
		t.Errorf("%d routes left", len(routes))
	}
}

// TestAutoStopIn: an idle environment with auto_stop_in: 5s stops by itself.
func TestAutoStopIn(t *testing.T) {
	s, proxyAddr, sha := webProject(t, "5s", 1)
	p := mergeRequest(t, s, 1, "open", "feature/idle", sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("deploy").Status == "success" || finished(p) })
	e := s.environment("review/feature-idle")
	if e.State != "available" {
		t.Fatalf("environment %+v", e)
	}
	// The environments page lists it with its image by digest and a stop button.
	page := s.text("/environments")
	if !strings.Contains(page, e.Name) || !strings.Contains(page, "@sha256:") || !strings.Contains(page, fmt.Sprintf(`action="/ui/environments/%d/stop"`, e.ID)) {
		t.Errorf("environments page lacks the environment, its digest or its stop button:\n%s", page)
	}
	if st := s.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("still %s two minutes later\n%s", st, s.jobReport(p.ID, "stop"))
	}
	after := s.waitJobDone(p.ID, "stop")
	if after.job("stop").Status != "success" {
		t.Errorf("the stop job did not succeed\n%s", s.jobReport(p.ID, "stop"))
	}
	checkNothingLeft(t, s, e, proxyAddr, e.host(""))
}

// BenchmarkReviewEnvironment: merge request opened -> the review URL
// answers 200, with prebuilt images; median of 10. Target: 2 s or less.
func BenchmarkReviewEnvironment(b *testing.B) {
	for range b.N {
		const n = 10
		s, proxyAddr, sha := webProject(b, "1 day", n)
		var took []time.Duration
		for i := 1; i <= n; i++ {
			start := time.Now()
			mergeRequest(b, s, i, "open", fmt.Sprintf("bench/mr-%d", i), sha)
			host := "review-" + slug.Ref(fmt.Sprintf("bench/mr-%d", i)) + ".review.example.com"
			for {
				if code, _, _ := viaProxy(proxyAddr, host, "/"); code == 200 {
					break
				}
				if time.Since(start) > time.Minute {
					b.Fatalf("%s never answered", host)
				}
				time.Sleep(10 * time.Millisecond)
			}
			took = append(took, time.Since(start))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(float64(took[n/2].Milliseconds()), "ms-median")
		b.Logf("merge request -> review URL 200, %d runs: median %s, min %s, max %s", n, took[n/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
	}
}

// TestFailedStopKeepsTheEnvironment: a failing stop job leaves the
// environment stop_failed with its resources; stopping it again (the UI's
// button) works once the cause is fixed.
func TestFailedStopKeepsTheEnvironment(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "may-stop")
	s, proxyAddr, sha := webProjectStop(t, "1 day", "[test -f "+marker+", slipway env stop]", 1)
	p := mergeRequest(t, s, 1, "open", "feature/stubborn", sha)
	s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("deploy").Status == "success" || finished(p) })
	e := s.environment("review/feature-stubborn")
	host := e.host("")
	cli := func(args ...string) string {
		out, err := s.cli(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("slipway %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := cli("env", "list", "shop"); !strings.Contains(out, e.Name) || !strings.Contains(out, "available") {
		t.Errorf("env list:\n%s", out)
	}
	if out := cli("env", "show", fmt.Sprint(e.ID)); !strings.Contains(out, `"slug": "`+e.Slug+`"`) {
		t.Errorf("env show:\n%s", out)
	}
	cli("env", "stop", fmt.Sprint(e.ID))
	if st := s.waitEnvironment(e.Name, "stop_failed"); st != "stop_failed" {
		t.Fatalf("state %s after a failing stop job, want stop_failed", st)
	}
	if code, _, _ := viaProxy(proxyAddr, host, "/"); code != 200 {
		t.Errorf("a failed stop removed the environment: %d", code)
	}
	os.WriteFile(marker, nil, 0o644)
	s.do("POST", fmt.Sprintf("/ui/environments/%d/stop", e.ID), nil, nil)
	if st := s.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("state %s after stopping again\n%s", st, s.jobReport(p.ID, "stop"))
	}
	checkNothingLeft(t, s, e, proxyAddr, host)
}

// TestBranchDeletionStopsItsEnvironment: deleting the branch a merge
// request came from stops its environment.
func TestBranchDeletionStopsItsEnvironment(t *testing.T) {
	s, proxyAddr, sha := webProject(t, "1 day", 1)
	p := mergeRequest(t, s, 1, "open", "feature/gone", sha)
	s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("deploy").Status == "success" || finished(p) })
	e := s.environment("review/feature-gone")
	if e.State != "available" {
		t.Fatalf("environment %+v", e)
	}
	code, _ := s.hook("Push Hook", map[string]any{
		"object_kind": "push", "ref": "refs/heads/feature/gone",
		"before": sha, "after": strings.Repeat("0", 40),
		"project": map[string]any{"path_with_namespace": "mute/app"},
	})
	if code >= 400 {
		t.Fatalf("push hook: %d", code)
	}
	if st := s.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("state %s after the branch was deleted\n%s", st, s.jobReport(p.ID, "stop"))
	}
	checkNothingLeft(t, s, e, proxyAddr, e.host(""))
}

// TestTwoInstallationsShareADockerEngine: two servers with databases of
// their own (a second installation, or a second test run on the machine)
// deploy the same project id and environment name on one Docker engine;
// stopping one environment leaves the other's containers, network and
// route alone.
func TestTwoInstallationsShareADockerEngine(t *testing.T) {
	const branch = "feature/shared"
	a, proxyA, shaA := webProject(t, "1 day", 1)
	b, proxyB, shaB := webProject(t, "1 day", 1)
	deploy := func(s *serverProc, sha string) (pipeline, environment) {
		p := mergeRequest(t, s, 1, "open", branch, sha)
		p = s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("deploy").Status == "success" || finished(p) })
		if p.job("deploy").Status != "success" {
			t.Fatalf("deploy: %s", s.jobReport(p.ID, "deploy"))
		}
		return p, s.environment("review/feature-shared")
	}
	pa, ea := deploy(a, shaA)
	_, eb := deploy(b, shaB)
	if ea.ProjectID != eb.ProjectID || ea.Slug != eb.Slug {
		t.Fatalf("want the same project id and slug on both servers: %+v %+v", ea, eb)
	}
	if ea.HostKey == "" || ea.HostKey == eb.HostKey {
		t.Fatalf("host keys %q and %q: want distinct ones", ea.HostKey, eb.HostKey)
	}
	host := ea.host("")
	for _, c := range []struct {
		proxy string
		s     *serverProc
	}{{proxyA, a}, {proxyB, b}} {
		if code, body, err := viaProxy(c.proxy, host, "/"); err != nil || code != 200 || body != "review of "+branch {
			t.Fatalf("before any stop, via %s: %d %q %v", c.proxy, code, body, err)
		}
	}

	mergeRequest(t, a, 1, "close", branch, shaA)
	if st := a.waitEnvironment(ea.Name, "stopped"); st != "stopped" {
		t.Fatalf("server A's environment %s after close\n%s", st, a.jobReport(pa.ID, "stop"))
	}
	checkNothingLeft(t, a, ea, proxyA, host)
	// B's environment is untouched: it runs, answers, and keeps its network.
	if st := b.environment(eb.Name).State; st != "available" {
		t.Errorf("server B's environment %s after A's stopped, want available", st)
	}
	if code, body, err := viaProxy(proxyB, host, "/"); err != nil || code != 200 || body != "review of "+branch {
		t.Errorf("server B's environment after A's stopped: %d %q %v", code, body, err)
	}
	cli := testenv.Docker(t)
	f := client.Filters{}.Add("label", "slipway.env="+eb.HostKey)
	containers, err := cli.ContainerList(context.Background(), client.ContainerListOptions{Filters: f})
	if err != nil || len(containers.Items) != 1 {
		t.Errorf("server B's running containers: %d %v, want 1", len(containers.Items), err)
	}
	networks, err := cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: f})
	if err != nil || len(networks.Items) != 1 {
		t.Errorf("server B's networks: %d %v, want 1", len(networks.Items), err)
	}

	mergeRequest(t, b, 1, "close", branch, shaB)
	if st := b.waitEnvironment(eb.Name, "stopped"); st != "stopped" {
		t.Fatalf("server B's environment %s after close", st)
	}
	checkNothingLeft(t, b, eb, proxyB, host)
}

// busyReviewPipeline deploys and stops review environments; its smoke job,
// after the deploy, runs until the file marker exists, so that the pipeline
// that deployed an environment is still running.
func busyReviewPipeline(marker string) string {
	return `
stages: [review, verify]
deploy:
  stage: review
  script: [slipway env deploy --compose compose.yaml]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    on_stop: stop
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
stop:
  stage: review
  script: [slipway env stop]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: manual
  allow_failure: true
smoke:
  stage: verify
  script: ["while [ ! -f ` + marker + ` ]; do sleep 0.1; done"]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
`
}

// openWhileSmokeRuns opens merge request 1 for branch and returns its
// pipeline once the deploy is done and the smoke job runs, and the
// environment it deployed.
func openWhileSmokeRuns(t *testing.T, s *serverProc, branch, sha string) (pipeline, environment) {
	t.Helper()
	p := mergeRequest(t, s, 1, "open", branch, sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("smoke").Status == "running" || finished(p) })
	if p.job("deploy").Status != "success" || p.job("smoke").Status != "running" {
		t.Fatalf("want deploy done and smoke running: %+v\n%s", p.Jobs, s.jobReport(p.ID, "deploy"))
	}
	return p, s.environment("review/" + slug.Ref(branch))
}

// TestStopWhileTheDeployPipelineRuns: a merge request closed while the
// pipeline that deployed its environment still runs (a job after the
// deploy, or just the pipeline finishing) stops the environment with its
// stop job once the pipeline is done, not without it.
func TestStopWhileTheDeployPipelineRuns(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "smoke-done")
	s, proxyAddr, sha := webProjectPipeline(t, busyReviewPipeline(marker))
	p, e := openWhileSmokeRuns(t, s, "feature/busy", sha)
	host := e.host("")

	mergeRequest(t, s, 1, "close", "feature/busy", sha)
	if st := s.environment(e.Name).State; st != "stopping" {
		t.Errorf("environment %s while its pipeline runs, want stopping (its stop job waits)", st)
	}
	if code, _, _ := viaProxy(proxyAddr, host, "/"); code != 200 {
		t.Errorf("the environment went before its stop job ran: %d", code)
	}
	os.WriteFile(marker, nil, 0o644)
	if st := s.waitEnvironment(e.Name, "stopped"); st != "stopped" {
		t.Fatalf("state %s after the pipeline ended\n%s", st, s.jobReport(p.ID, "stop"))
	}
	after := s.waitJobDone(p.ID, "stop")
	if after.job("stop").Status != "success" {
		t.Errorf("the stop job did not stop the environment\n%s", s.jobReport(p.ID, "stop"))
	}
	checkNothingLeft(t, s, e, proxyAddr, host)
}
