package server_test

import (
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestPollingStartsPipelines: a project with poll: true gets a push
// pipeline for each new commit, without webhooks.
func TestPollingStartsPipelines(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo polled]\n"})
	s := startServerArgs(t, storetest.SQLiteURL(t), t.TempDir(), "--poll-interval", "300ms")
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "poll": true}, nil); code != 201 {
		t.Fatal(code)
	}
	time.Sleep(800 * time.Millisecond) // the first look only records the heads
	var ps []pipeline
	s.do("GET", "/api/projects/shop/pipelines", nil, &ps)
	if len(ps) != 0 {
		t.Fatalf("pipelines before any new commit: %+v", ps)
	}
	os.WriteFile(filepath.Join(repo, "new.txt"), []byte("new"), 0o644)
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "New commit")
	sha := strings.TrimSpace(run(t, repo, "git", "rev-parse", "main"))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.do("GET", "/api/projects/shop/pipelines", nil, &ps)
		if len(ps) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(ps) != 1 || ps[0].SHA != sha || ps[0].Source != "push" {
		t.Fatalf("pipelines after a new commit: %+v", ps)
	}
}

// TestTriggerTokenAndCancel: GitLab's trigger API with a trigger token and
// variables; a wrong token is refused; a running pipeline is canceled.
func TestTriggerTokenAndCancel(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": `
job:
  script: ['echo "target=$TARGET"', 'test "$SLOW" != 1 || sleep 60']
`})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	var trig struct{ Token string }
	if code := s.do("POST", "/api/projects/shop/triggers", map[string]string{"description": "deploys"}, &trig); code != 201 || trig.Token == "" {
		t.Fatalf("trigger: %d %+v", code, trig)
	}
	// post sends the form URL-encoded, or as multipart as GitLab's
	// documented curl -F does.
	post := func(token string, vars url.Values, multipart ...bool) (int, pipeline) {
		form := url.Values{"token": {token}, "ref": {"main"}}
		for k, v := range vars {
			form["variables["+k+"]"] = v
		}
		body, contentType := strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
		if len(multipart) > 0 {
			body, contentType = multipartForm(t, form)
		}
		resp, err := http.Post(s.url+"/api/projects/shop/trigger/pipeline", contentType, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p pipeline
		jsonDecode(resp, &p)
		return resp.StatusCode, p
	}
	if code, _ := post("not-the-token", nil); code != 401 {
		t.Errorf("wrong trigger token: %d, want 401", code)
	}
	code, p := post(trig.Token, url.Values{"TARGET": {"staging"}}, true)
	if code != 201 {
		t.Fatalf("trigger with curl -F's multipart form: %d", code)
	}
	p = s.waitPipeline(p.ID, finished)
	if log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("job").ID)); p.Source != "trigger" || !strings.Contains(log, "target=staging") {
		t.Errorf("triggered pipeline %+v log %q", p, log)
	}

	_, slow := post(trig.Token, url.Values{"SLOW": {"1"}})
	s.waitPipeline(slow.ID, func(p pipeline) bool { return p.job("job").Status == "running" })
	if code := s.do("POST", fmt.Sprintf("/api/pipelines/%d/cancel", slow.ID), nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	slow = s.waitPipeline(slow.ID, finished)
	if slow.Status != "canceled" || slow.job("job").Status != "canceled" {
		t.Errorf("after cancel: %+v", slow)
	}
}

// multipartForm is form as curl -F sends it.
func multipartForm(t *testing.T, form url.Values) (*strings.Reader, string) {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	for k, vs := range form {
		for _, v := range vs {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(b.String()), w.FormDataContentType()
}

// TestCLIAgainstServer drives a server with the CLI: run and wait, list,
// show, follow a log.
func TestCLIAgainstServer(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [build, test]
build:
  stage: build
  script: ['for i in 1 2 3; do echo "step $i of $GREETING"; sleep 0.2; done']
test:
  stage: test
  script: [echo tested]
`})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	cli := func(args ...string) (string, error) {
		cmd := s.cli(args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := cli("pipeline", "run", "shop", "--variable", "GREETING=hello", "--wait")
	if err != nil || !strings.Contains(out, "success") || !strings.Contains(out, "build") {
		t.Fatalf("pipeline run --wait: %v\n%s", err, out)
	}
	out, err = cli("pipeline", "list", "shop")
	if err != nil || !strings.Contains(out, "success") || !strings.Contains(out, "main") {
		t.Errorf("pipeline list: %v\n%s", err, out)
	}
	out, err = cli("pipeline", "run", "shop", "--variable", "GREETING=live")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	fmt.Sscanf(out, "pipeline %d", &id)
	var p pipeline
	s.do("GET", fmt.Sprintf("/api/pipelines/%d", id), nil, &p)
	// Follow the log of a job that has not started yet: it streams to the end.
	out, err = cli("job", "log", "-f", fmt.Sprint(p.job("build").ID))
	if err != nil || !strings.Contains(out, "step 1 of live") || !strings.Contains(out, "step 3 of live") {
		t.Errorf("job log -f: %v\n%s", err, out)
	}
	out, err = cli("pipeline", "show", fmt.Sprint(id))
	if err != nil || !strings.Contains(out, "test") {
		t.Errorf("pipeline show: %v\n%s", err, out)
	}
	if out, err := cli("pipeline", "cancel", fmt.Sprint(id)); err == nil {
		t.Errorf("cancel of a finished pipeline succeeded: %s", out)
	}
}

// TestRestartRetriesSystemFailures: jobs whose retry:when includes
// runner_system_failure run again after the server was killed under them,
// all of them, in one resumed pipeline.
func TestRestartRetriesSystemFailures(t *testing.T) {
	markers := t.TempDir()
	job := func(name string) string {
		return fmt.Sprintf(`
%[1]s:
  retry:
    max: 1
    when: [runner_system_failure]
  script:
    - test -f %[2]s/%[1]s && echo second attempt && exit 0
    - touch %[2]s/%[1]s
    - sleep 60
`, name, markers)
	}
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": job("one") + job("two")})
	data := t.TempDir()
	db := storetest.SQLiteURL(t)
	s := startServer(t, db, data, "")
	newProject(t, s, repo)
	var p pipeline
	s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p)
	for _, name := range []string{"one", "two"} {
		for _, err := os.Stat(filepath.Join(markers, name)); err != nil; _, err = os.Stat(filepath.Join(markers, name)) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	s.kill()
	s2 := startServer(t, db, data, "")
	p = s2.waitPipeline(p.ID, func(p pipeline) bool {
		return finished(p) && p.job("one").Status != "failed" || p.Status == "failed" && p.job("one").FailureReason != "runner_system_failure"
	})
	for _, name := range []string{"one", "two"} {
		j := p.job(name)
		if j.Status != "success" {
			t.Errorf("%s after the restart: %+v", name, j)
		}
		if log := s2.text(fmt.Sprintf("/api/jobs/%d/log", j.ID)); !strings.Contains(log, "second attempt") {
			t.Errorf("%s's log: %q", name, log)
		}
	}
	if p.Status != "success" {
		t.Errorf("pipeline %s", p.Status)
	}
}
