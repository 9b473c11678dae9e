package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
)

const hostile = `<script>alert(1)</script>`

// uiPipelineFile has a job and a branch named like an attack, needs
// edges, a coloured line, a masked variable in the log and a manual job.
const uiPipelineFile = `
stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo building
    - test "$CI_COMMIT_REF_NAME" != feature
"<script>alert(1)</script>":
  stage: test
  needs: [build]
  script:
    - echo "<script>alert(1)</script> with token $DEPLOY_TOKEN and note"
    - printf '\033[31mred\033[0m plain\n'
lint:
  stage: test
  script: [echo lint]
ship:
  stage: deploy
  needs: ["<script>alert(1)</script>"]
  script: [echo ship]
  when: manual
`

func mustNot(t *testing.T, page, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s contains %q", page, b)
		}
	}
}

func must(t *testing.T, page, body string, good ...string) {
	t.Helper()
	for _, g := range good {
		if !strings.Contains(body, g) {
			t.Errorf("%s lacks %q", page, g)
		}
	}
}

// TestUIPagesEscapeAndHideSecrets renders every page of a pipeline whose
// branch, job and project are named to attack the page, with a masked
// project variable and a pipeline variable: names come out escaped, the
// graph has its edges, values never appear.
func TestUIPagesEscapeAndHideSecrets(t *testing.T) {
	ctx := context.Background()
	s := uiServer(t, "")
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": uiPipelineFile}, hostile)
	p := uiProject(t, s, `"><svg_onload=alert(1)>`, repo)
	if _, err := s.Store.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "DEPLOY_TOKEN", Value: "hunter2-very-secret", Masked: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CreateSchedule(ctx, store.Schedule{ProjectID: p.ID, Description: "nightly " + hostile, Cron: "0 2 * * *",
		Ref: hostile, Active: true, Variables: map[string]string{"SCHEDULE_SECRET": "schedule-value-xyz"}}); err != nil {
		t.Fatal(err)
	}
	pipe := uiRun(t, s, p, hostile, map[string]string{"RELEASE_NOTE": "pipeline-var-value-42"})
	if got := uiWait(t, s, pipe.ID); got.Status != store.Manual && got.Status != store.Success {
		t.Fatalf("pipeline ended %s (%s)", got.Status, got.Error)
	}
	jobs := uiJobs(t, s, pipe.ID)
	evil := jobs[hostile]
	if evil.Status != store.Success {
		t.Fatalf("job %s: %s", hostile, evil.Status)
	}

	secrets := []string{hostile, "<svg_onload", "hunter2-very-secret", "pipeline-var-value-42", "schedule-value-xyz"}
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;"
	pages := map[string][]string{
		"/":                               {"&#34;&gt;&lt;svg_onload=alert(1)&gt;", escaped, fmt.Sprintf(`href="/pipelines/%d"`, pipe.ID)},
		fmt.Sprintf("/projects/%d", p.ID): {escaped, "nightly " + escaped, "SCHEDULE_SECRET", "0 2 * * *"},
		fmt.Sprintf("/pipelines/%d", pipe.ID): {
			escaped, "RELEASE_NOTE", `<svg`,
			// The graph: stage columns, boxes and needs as edges.
			`class="stage"`, `>build</text>`, `>deploy</text>`,
			`data-job="lint"`, `data-job="` + escaped + `"`,
			`class="need" data-from="build" data-to="` + escaped + `"`,
			`class="need" data-from="` + escaped + `" data-to="ship"`,
			fmt.Sprintf(`href="/jobs/%d"`, evil.ID),
			fmt.Sprintf(`action="/ui/jobs/%d/play"`, jobs["ship"].ID),
			fmt.Sprintf(`action="/ui/jobs/%d/retry"`, jobs["build"].ID),
		},
		fmt.Sprintf("/pipelines/%d/live", pipe.ID): {`<svg`, escaped},
		fmt.Sprintf("/jobs/%d", evil.ID): {
			"<h1>" + escaped + "</h1>",
			escaped + " with token [MASKED] and note",
			`<span class="fg-red">red</span> plain`,
			`data-live="false"`,
		},
	}
	for path, want := range pages {
		code, body := uiGet(t, s, path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
			continue
		}
		must(t, path, body, want...)
		mustNot(t, path, body, secrets...)
	}
	// No edge for lint: it has no needs, it waits for its stage.
	_, body := uiGet(t, s, fmt.Sprintf("/pipelines/%d", pipe.ID))
	mustNot(t, "pipeline page", body, `data-to="lint"`, `data-from="lint"`)
	if n := strings.Count(body, `class="need"`); n != 2 {
		t.Errorf("graph has %d edges, want 2", n)
	}
}

// TestUIProjectFilters checks the pipeline list's branch and status
// filters and its refusal of an unknown status.
func TestUIProjectFilters(t *testing.T) {
	s := uiServer(t, "")
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script:\n    - test \"$CI_COMMIT_REF_NAME\" != feature\n"}, "feature")
	p := uiProject(t, s, "filters", repo)
	mainOK := uiRun(t, s, p, "main", nil)
	featFail := uiRun(t, s, p, "feature", nil)
	uiWait(t, s, mainOK.ID)
	uiWait(t, s, featFail.ID)

	link := func(pp store.Pipeline) string { return fmt.Sprintf(`href="/pipelines/%d"`, pp.ID) }
	for _, c := range []struct {
		query      string
		want, not  []string
		wantStatus int
	}{
		{"", []string{link(mainOK), link(featFail)}, nil, 200},
		{"?ref=feature", []string{link(featFail), `value="feature"`}, []string{link(mainOK)}, 200},
		{"?status=success", []string{link(mainOK), `<option value="success" selected>`}, []string{link(featFail)}, 200},
		{"?status=failed", []string{link(featFail)}, []string{link(mainOK)}, 200},
		{"?ref=main&status=failed", []string{"No pipelines."}, []string{link(mainOK), link(featFail)}, 200},
		{"?status=" + url.QueryEscape(hostile), []string{"not a pipeline status"}, []string{hostile}, 400},
	} {
		code, body := uiGet(t, s, fmt.Sprintf("/projects/%d%s", p.ID, c.query))
		if code != c.wantStatus {
			t.Errorf("%s: status %d, want %d", c.query, code, c.wantStatus)
		}
		must(t, c.query, body, c.want...)
		mustNot(t, c.query, body, c.not...)
	}
	// The project page also answers to the project's name.
	if code, body := uiGet(t, s, "/projects/filters?ref=feature"); code != 200 || !strings.Contains(body, link(featFail)) {
		t.Errorf("by name: %d", code)
	}
}

func TestUINotFound(t *testing.T) {
	s := uiServer(t, "")
	for _, path := range []string{"/projects/404", "/projects/nope", "/pipelines/999", "/pipelines/abc",
		"/pipelines/999/live", "/jobs/999", "/jobs/x", "/jobs/999/head", "/static/nope.css"} {
		code, body := uiGet(t, s, path)
		if code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
		if !strings.HasPrefix(path, "/static/") && !strings.Contains(body, "There is nothing at this address") {
			t.Errorf("GET %s: not the 404 page", path)
		}
	}
}

// TestUIButtons drives the forms: run with variables, play a manual job,
// retry a job, cancel a pipeline that is over, and refuse a cross-site post.
func TestUIButtons(t *testing.T) {
	s := uiServer(t, "")
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": uiPipelineFile}, "feature")
	p := uiProject(t, s, "buttons", repo)

	rec := uiPost(t, s, fmt.Sprintf("/ui/projects/%d/pipelines", p.ID), url.Values{"ref": {"main"}, "variables": {"GOOD=1\nnot a variable"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "variables, line 2") {
		t.Fatalf("bad variables: %d %s", rec.Code, rec.Body)
	}
	rec = uiPost(t, s, fmt.Sprintf("/ui/projects/%d/pipelines", p.ID), url.Values{"ref": {"no-such-branch"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "no-such-branch") {
		t.Fatalf("unknown ref: %d", rec.Code)
	}

	rec = uiPost(t, s, fmt.Sprintf("/ui/projects/%d/pipelines", p.ID), url.Values{"ref": {"main"}, "variables": {"RELEASE_NOTE=from the form\r\n"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	var id int64
	if _, err := fmt.Sscanf(rec.Header().Get("Location"), "/pipelines/%d", &id); err != nil {
		t.Fatalf("run went to %q", rec.Header().Get("Location"))
	}
	pipe := uiWait(t, s, id)
	if pipe.Source != store.SourceWeb || pipe.Variables["RELEASE_NOTE"] != "from the form" {
		t.Fatalf("pipeline: source %s, variables %v", pipe.Source, pipe.Variables)
	}
	jobs := uiJobs(t, s, id)

	rec = uiPost(t, s, fmt.Sprintf("/ui/jobs/%d/play", jobs["ship"].ID), url.Values{"return": {"pipeline"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != fmt.Sprintf("/pipelines/%d", id) {
		t.Fatalf("play: %d to %s", rec.Code, rec.Header().Get("Location"))
	}
	uiWait(t, s, id)
	if st := uiJobs(t, s, id)["ship"].Status; st != store.Success {
		t.Fatalf("ship after play: %s", st)
	}

	rec = uiPost(t, s, fmt.Sprintf("/ui/jobs/%d/retry", jobs["lint"].ID), nil)
	retried := uiJobs(t, s, id)["lint"]
	if rec.Code != http.StatusSeeOther || retried.Attempt != 2 || rec.Header().Get("Location") != jobURL(retried.ID) {
		t.Fatalf("retry: %d to %s (attempt %d, job %d)", rec.Code, rec.Header().Get("Location"), retried.Attempt, retried.ID)
	}
	uiWait(t, s, id)
	// The first attempt's page links to the second and offers no retry.
	_, body := uiGet(t, s, jobURL(jobs["lint"].ID))
	must(t, "first attempt", body, fmt.Sprintf(`<a href="/jobs/%d">#2</a>`, retried.ID))
	mustNot(t, "first attempt", body, fmt.Sprintf(`/ui/jobs/%d/retry`, jobs["lint"].ID))

	if rec := uiPost(t, s, fmt.Sprintf("/ui/pipelines/%d/cancel", id), nil); rec.Code != http.StatusConflict {
		t.Errorf("cancel of an ended pipeline: %d", rec.Code)
	}
	cross := uiPostFrom(t, s, fmt.Sprintf("/ui/projects/%d/pipelines", p.ID), "cross-site")
	if cross.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site run: %d, want 403", cross.StatusCode)
	}
}

func uiPostFrom(t *testing.T, s *Server, path, site string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+path, strings.NewReader("ref=main"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	req.Header.Set("Origin", "http://evil.example")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestUISignIn: with an API token, pages are readable but buttons need
// the token, given once on the sign-in page.
func TestUISignIn(t *testing.T) {
	t.Setenv("SLIPWAY_UI_TEST_TOKEN", "ui-token-0123456789")
	s := uiServer(t, "SLIPWAY_UI_TEST_TOKEN")
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	p := uiProject(t, s, "guarded", repo)
	run := fmt.Sprintf("/ui/projects/%d/pipelines", p.ID)

	code, body := uiGet(t, s, fmt.Sprintf("/projects/%d", p.ID))
	if code != 200 || strings.Contains(body, `action="`+run+`"`) || !strings.Contains(body, "Sign in") {
		t.Fatalf("project page without the token shows the run form (%d)", code)
	}
	rec := uiPost(t, s, run, url.Values{"ref": {"main"}})
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login?next=") {
		t.Fatalf("run without the token: %d to %s", rec.Code, rec.Header().Get("Location"))
	}
	if pl, _ := s.Store.ListPipelines(context.Background(), store.PipelineFilter{ProjectID: p.ID}); len(pl) != 0 {
		t.Fatalf("a pipeline ran without the token")
	}
	rec = uiPost(t, s, "/ui/login", url.Values{"token": {"wrong"}, "next": {"/projects/1"}})
	if rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("wrong token: %d", rec.Code)
	}
	rec = uiPost(t, s, "/ui/login", url.Values{"token": {"ui-token-0123456789"}, "next": {"//evil.example/"}})
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("sign-in: %d to %s, cookies %v", rec.Code, rec.Header().Get("Location"), cookies)
	}
	rec = uiPost(t, s, run, url.Values{"ref": {"main"}}, cookies[0])
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/pipelines/") {
		t.Fatalf("run signed in: %d to %s", rec.Code, rec.Header().Get("Location"))
	}
	var id int64
	fmt.Sscanf(rec.Header().Get("Location"), "/pipelines/%d", &id)
	uiWait(t, s, id)
}

func TestUIEnvironments(t *testing.T) {
	ctx := context.Background()
	s := uiServer(t, "")
	p := uiProject(t, s, "envs", t.TempDir())
	staging, err := s.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "staging", URL: "http://127.0.0.1:18080"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Store.CreateDeployment(ctx, store.Deployment{EnvironmentID: staging.ID, Ref: "main", SHA: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.SetDeploymentStatus(ctx, d.ID, store.DeploySuccess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "review/" + hostile, URL: "javascript:alert(1)"}); err != nil {
		t.Fatal(err)
	}
	code, body := uiGet(t, s, "/environments")
	if code != 200 {
		t.Fatalf("GET /environments: %d", code)
	}
	must(t, "environments", body, "staging", `<a href="http://127.0.0.1:18080"`, `status-success">success`, "01234567",
		"review/&lt;script&gt;", `status-available">available`, "staging")
	mustNot(t, "environments", body, hostile, `href="javascript:`)
}
