package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// The suite drives a real `slipway serve` process over HTTP, on SQLite and
// on PostgreSQL.

var slipwayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slipway-e2e")
	if err != nil {
		panic(err)
	}
	slipwayBin = filepath.Join(dir, "slipway")
	if out, err := exec.Command("go", "build", "-o", slipwayBin, "../../cmd/slipway").CombinedOutput(); err != nil {
		panic("building slipway: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serverProc is one `slipway serve` process.
type serverProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	url     string
	dataDir string
	db      string
	stderr  *testenv.Buffer
	// extra are the command-line arguments beyond address, data and
	// database, for restart.
	extra []string
	// token is the API token serve made at its first start (none when the
	// test configures api_token_env); do sends it.
	token string
	// done is closed once the process ended: Wait may run only once.
	waitOnce sync.Once
	done     chan struct{}
}

// exited is closed once the server process has ended.
func (s *serverProc) exited() <-chan struct{} {
	s.waitOnce.Do(func() {
		s.done = make(chan struct{})
		go func() { s.cmd.Wait(); close(s.done) }()
	})
	return s.done
}

// startServer starts slipway serve on a free loopback port.
func startServer(t testing.TB, db, dataDir, config string) *serverProc {
	t.Helper()
	var extra []string
	if config != "" {
		extra = []string{"--config", config}
	}
	return startServerArgs(t, db, dataDir, extra...)
}

// startServerArgs is startServer with more command-line arguments.
func startServerArgs(t testing.TB, db, dataDir string, extra ...string) *serverProc {
	t.Helper()
	return startServerAt(t, testenv.FreeAddr(t), db, dataDir, extra...)
}

// restart starts a killed server again as it was: same address (its
// registry's images keep their names), data, database and arguments.
func (s *serverProc) restart() *serverProc {
	s.t.Helper()
	return startServerAt(s.t, strings.TrimPrefix(s.url, "http://"), s.db, s.dataDir, s.extra...)
}

// startServerAt is startServerArgs on a given address.
func startServerAt(t testing.TB, addr, db, dataDir string, extra ...string) *serverProc {
	t.Helper()
	s := &serverProc{t: t, url: "http://" + addr, dataDir: dataDir, db: db, stderr: &testenv.Buffer{}, extra: extra}
	args := append([]string{"serve", "--listen", addr, "--data", dataDir, "--database", db, "--schedule-tick", "200ms"}, extra...)
	s.cmd = exec.Command(slipwayBin, args...)
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			s.token = madeToken(t, db)
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not answer:\n%s", s.stderr)
	return nil
}

// cli is the slipway CLI against this server, with its API token.
func (s *serverProc) cli(args ...string) *exec.Cmd {
	cmd := exec.Command(slipwayBin, append(args, "--server", s.url)...)
	cmd.Env = append(os.Environ(), "SLIPWAY_TOKEN="+s.token)
	return cmd
}

// madeToken is the API token serve made and kept in the database db, if
// it made one.
func madeToken(t testing.TB, db string) string {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	token, err := st.APIToken(context.Background())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return token
}

// kill ends the server at once, as a crash would: its jobs' processes run
// on (each job has a process group of its own) until a restarted server
// ends them, as it must; whatever is left when the test ends is killed then.
func (s *serverProc) kill() {
	if s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGSTOP) // no new job while its processes are looked for
	procs := descendants(pid)
	syscall.Kill(-pid, syscall.SIGKILL)
	<-s.exited()
	s.t.Cleanup(func() {
		for _, p := range procs {
			syscall.Kill(-p, syscall.SIGKILL)
			syscall.Kill(p, syscall.SIGKILL)
		}
		deadline := time.Now().Add(20 * time.Second)
		for _, p := range procs {
			for !processGone(p) {
				if time.Now().After(deadline) {
					s.t.Errorf("process %d of the killed server's jobs still runs", p)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
}

// descendants are the processes under pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent's pid is the second field after the (command).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// processGone: no such process, or a zombie.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.HasPrefix(string(b[bytes.LastIndexByte(b, ')')+2:]), "Z")
}

func (s *serverProc) stop() {
	if s.cmd.ProcessState == nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited():
		case <-time.After(10 * time.Second):
			s.kill()
		}
	}
	if s.t.Failed() {
		s.t.Logf("server log:\n%s", s.stderr)
	}
}

func (s *serverProc) do(method, path string, body any, out any) int {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode
}

func (s *serverProc) text(path string) string {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

type job struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
	Error         string `json:"error"`
	Runner        string `json:"runner"`
	Attempt       int    `json:"attempt"`
}

type pipeline struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
	Ref    string `json:"ref"`
	SHA    string `json:"sha"`
	Status string `json:"status"`
	Error  string `json:"error"`
	Jobs   []job  `json:"jobs"`
}

func (p pipeline) job(name string) job {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return job{}
}

func (s *serverProc) waitPipeline(id int64, done func(pipeline) bool) pipeline {
	s.t.Helper()
	var p pipeline
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s.do("GET", fmt.Sprintf("/api/pipelines/%d", id), nil, &p)
		if done(p) {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("pipeline %d: still %s %+v", id, p.Status, p.Jobs)
	return p
}

// waitJobDone waits for job name of pipeline id to end (success, failed,
// canceled or skipped) and returns the pipeline then.
func (s *serverProc) waitJobDone(id int64, name string) pipeline {
	return s.waitPipeline(id, func(p pipeline) bool {
		switch p.job(name).Status {
		case "success", "failed", "canceled", "skipped":
			return true
		}
		return false
	})
}

func finished(p pipeline) bool {
	return p.Status != "created" && p.Status != "pending" && p.Status != "running"
}

// gitRepo makes a repository with one commit on main and a branch
// feature/login one commit ahead, and returns it and main's SHA.
func gitRepo(t testing.TB, files map[string]string) (string, string) {
	t.Helper()
	dir := testenv.GitRepo(t, files)
	testenv.Git(t, dir, "checkout", "-q", "-b", "feature/login")
	os.WriteFile(filepath.Join(dir, "login.txt"), []byte("login"), 0o644)
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", "Login page")
	testenv.Git(t, dir, "checkout", "-q", "main")
	return dir, testenv.Git(t, dir, "rev-parse", "main")
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

const secret = "e2e-webhook-secret-0123456789"

const e2ePipeline = `
stages: [build, test]
default:
  interruptible: true
.always: &always
  rules:
    - when: on_success
build:
  <<: *always
  stage: build
  script:
    - 'echo "source=$CI_PIPELINE_SOURCE ref=$CI_COMMIT_REF_NAME sha=$CI_COMMIT_SHORT_SHA"'
    - 'echo "mr=$CI_MERGE_REQUEST_IID from=$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME to=$CI_MERGE_REQUEST_TARGET_BRANCH_NAME title=$CI_MERGE_REQUEST_TITLE"'
    - 'echo "token=$DEPLOY_TOKEN"'
test:
  <<: *always
  stage: test
  script: [echo tested]
`

func newProject(t testing.TB, s *serverProc, repo string) {
	t.Helper()
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "webhook_secret": secret}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	if code := s.do("PUT", "/api/projects/shop/variables/DEPLOY_TOKEN", map[string]any{"value": "tok-3f9a8b7c6d5e", "masked": true}, nil); code != 200 {
		t.Fatalf("set variable: %d", code)
	}
}

func githubPush(t testing.TB, s *serverProc, sha, signature string) (int, pipeline) {
	t.Helper()
	code, d := githubPushDelivery(t, s, sha, signature, newDeliveryID())
	return code, s.deliveredPipeline(d)
}

// githubPushDelivery sends a signed GitHub push of sha to main with the
// delivery id given and returns the answer.
func githubPushDelivery(t testing.TB, s *serverProc, sha, signature, id string) (int, delivery) {
	t.Helper()
	return s.githubHook(githubPushBody(sha, 0), signature, id)
}

// githubPushBody is a GitHub push of sha to main, with padding bytes more
// in its commit message.
func githubPushBody(sha string, padding int) []byte {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository":  map[string]any{"full_name": "acme/shop", "clone_url": "https://github.com/acme/shop.git", "default_branch": "main"},
		"head_commit": map[string]any{"id": sha, "message": "Add the pipeline" + strings.Repeat(".", padding), "timestamp": "2026-11-25T08:00:00Z"},
		"pusher":      map[string]any{"name": "dev"},
	})
	return body
}

// githubHook sends a GitHub push to project shop, signed with signature
// ("": the right one).
func (s *serverProc) githubHook(body []byte, signature, id string) (int, delivery) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/hooks/shop", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", signature)
	if signature == "" {
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
	}
	return s.sendHook(req)
}

// delivery is the answer to a webhook, and what GET
// /api/webhook-deliveries/{id} says of it.
type delivery struct {
	ID         int64  `json:"id"`
	DeliveryID string `json:"delivery_id"`
	Status     string `json:"status"`
	Duplicate  bool   `json:"duplicate"`
	PipelineID int64  `json:"pipeline_id"`
	Message    string `json:"message"`
}

var deliveries atomic.Int64

// newDeliveryID is a delivery id no other delivery of the test binary has.
func newDeliveryID() string {
	return fmt.Sprintf("d-%d-%d", os.Getpid(), deliveries.Add(1))
}

// sendHook sends a webhook and decodes the answer.
func (s *serverProc) sendHook(req *http.Request) (int, delivery) {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var d delivery
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &d)
	if d.Message == "" {
		s.t.Fatalf("webhook answered %d without a message: %s", resp.StatusCode, data)
	}
	return resp.StatusCode, d
}

// waitDelivery waits until delivery id reaches one of statuses (by
// default: done or failed, the server has done what it asks).
func (s *serverProc) waitDelivery(id int64, statuses ...string) delivery {
	s.t.Helper()
	if len(statuses) == 0 {
		statuses = []string{"done", "failed"}
	}
	var d delivery
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s.do("GET", fmt.Sprintf("/api/webhook-deliveries/%d", id), nil, &d)
		if slices.Contains(statuses, d.Status) {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("delivery %d is %s, want %v", id, d.Status, statuses)
	return d
}

// deliveredPipeline is the pipeline a recorded delivery created, once it
// did (none for a delivery that was not recorded or made none).
func (s *serverProc) deliveredPipeline(d delivery) pipeline {
	s.t.Helper()
	var p pipeline
	if d.ID == 0 {
		return p
	}
	if d = s.waitDelivery(d.ID); d.PipelineID != 0 {
		s.do("GET", fmt.Sprintf("/api/pipelines/%d", d.PipelineID), nil, &p)
	}
	return p
}

func TestServerEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db string) {
		repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
		s := startServer(t, db, t.TempDir(), "")
		newProject(t, s, repo)

		t.Run("signed GitHub push runs a pipeline", func(t *testing.T) {
			code, p := githubPush(t, s, sha, "")
			if code != 202 || p.ID == 0 {
				t.Fatalf("webhook answered %d %+v", code, p)
			}
			p = s.waitPipeline(p.ID, finished)
			if p.Status != "success" || p.Source != "push" || p.SHA != sha {
				t.Fatalf("pipeline %+v", p)
			}
			log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("build").ID))
			if !strings.Contains(log, "source=push ref=main sha="+sha[:8]) {
				t.Errorf("build log:\n%s", log)
			}
			// The masked variable never appears: not in the log, not in any answer.
			if strings.Contains(log, "tok-3f9a8b7c6d5e") || !strings.Contains(log, "token=[MASKED]") {
				t.Errorf("masked variable leaked or missing:\n%s", log)
			}
			for _, path := range []string{"/api/projects/shop/variables", fmt.Sprintf("/api/pipelines/%d", p.ID), "/api/projects/shop/pipelines", fmt.Sprintf("/api/jobs/%d", p.job("build").ID)} {
				if body := s.text(path); strings.Contains(body, "tok-3f9a8b7c6d5e") {
					t.Errorf("%s answers the masked value", path)
				}
			}
			filepath.Walk(s.dataDir, func(path string, info os.FileInfo, err error) error {
				if err == nil && strings.HasSuffix(path, ".log") {
					if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("tok-3f9a8b7c6d5e")) {
						t.Errorf("stored log %s holds the masked value", path)
					}
				}
				return nil
			})
		})

		t.Run("wrong signature is refused", func(t *testing.T) {
			var before []pipeline
			s.do("GET", "/api/projects/shop/pipelines", nil, &before)
			code, _ := githubPush(t, s, sha, "sha256="+strings.Repeat("ab", 32))
			if code != 401 {
				t.Errorf("answer %d, want 401", code)
			}
			var after []pipeline
			s.do("GET", "/api/projects/shop/pipelines", nil, &after)
			if len(after) != len(before) {
				t.Errorf("a refused webhook created a pipeline")
			}
			if strings.Contains(s.stderr.String(), "refs/heads/main") {
				t.Errorf("the refused payload was logged")
			}
		})

		t.Run("GitLab merge request sets CI_MERGE_REQUEST variables", func(t *testing.T) {
			feature := strings.TrimSpace(run(t, repo, "git", "rev-parse", "feature/login"))
			body, _ := json.Marshal(map[string]any{
				"object_kind": "merge_request",
				"project":     map[string]any{"path_with_namespace": "acme/shop", "web_url": "http://gitlab.local/acme/shop", "default_branch": "main"},
				"object_attributes": map[string]any{
					"iid": 12, "title": "Login page", "action": "open", "state": "opened",
					"source_branch": "feature/login", "target_branch": "main",
					"last_commit": map[string]any{"id": feature, "message": "Login page"},
				},
			})
			req, _ := http.NewRequest("POST", s.url+"/hooks/shop", bytes.NewReader(body))
			req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
			req.Header.Set("X-Gitlab-Token", secret)
			code, d := s.sendHook(req)
			if code != 202 {
				t.Fatalf("answer %d", code)
			}
			p := s.waitPipeline(s.deliveredPipeline(d).ID, finished)
			log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("build").ID))
			if p.Source != "merge_request_event" || !strings.Contains(log, "mr=12 from=feature/login to=main title=Login page") {
				t.Errorf("pipeline %+v log:\n%s", p, log)
			}
		})

		t.Run("a schedule fires", func(t *testing.T) {
			if code := s.do("POST", "/api/projects/shop/schedules", map[string]any{"description": "nightly", "cron": "@every 1s", "ref": "main", "active": true, "variables": map[string]string{"NIGHTLY": "1"}}, nil); code != 201 {
				t.Fatalf("create schedule: %d", code)
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				var ps []pipeline
				s.do("GET", "/api/projects/shop/pipelines?source=schedule", nil, &ps)
				if len(ps) > 0 {
					p := s.waitPipeline(ps[0].ID, finished)
					if p.Status != "success" {
						t.Errorf("scheduled pipeline %s", p.Status)
					}
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Error("no scheduled pipeline")
		})
	})
}

func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
	return string(out)
}

// TestJobIDIsTheAPIsJobID: CI_JOB_ID in a job is the ID the API gives the
// job (docs.gitlab.com/ci/variables/predefined_variables: "the internal
// ID of the job"), through a retry of the job too.
func TestJobIDIsTheAPIsJobID(t *testing.T) {
	repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": `
first:
  script: [echo "id=$CI_JOB_ID pipeline=$CI_PIPELINE_ID"]
flaky:
  retry: 1
  script: [echo "id=$CI_JOB_ID", test -e /nonexistent]
`})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	newProject(t, s, repo)
	var p pipeline
	if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p); code != 201 {
		t.Fatalf("run: %d", code)
	}
	p = s.waitPipeline(p.ID, finished)
	for _, name := range []string{"first", "flaky"} {
		j := p.job(name)
		log := s.text(fmt.Sprintf("/api/jobs/%d/log", j.ID))
		want := fmt.Sprintf("id=%d", j.ID)
		if n := strings.Count(log, want+"\n") + strings.Count(log, want+" "); n == 0 || name == "flaky" && n != 2 {
			t.Errorf("%s (API id %d) printed %d times %q:\n%s", name, j.ID, n, want, log)
		}
	}
	if log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("first").ID)); !strings.Contains(log, fmt.Sprintf("pipeline=%d", p.ID)) {
		t.Errorf("CI_PIPELINE_ID is not the API's pipeline id %d:\n%s", p.ID, log)
	}
}

// TestServerKilledMidJob: a crash leaves the running job failed with a
// reason after the restart, the jobs that had finished intact, and none of
// the killed job's processes running on.
func TestServerKilledMidJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db string) {
		pids := t.TempDir()
		repo, _ := gitRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [one, two]
quick:
  stage: one
  script: [echo quick]
slow:
  stage: two
  script:
    - echo started
    - setsid sleep 300 > /dev/null 2>&1 & echo $! > ` + pids + `/daemon
    - echo $$ > ` + pids + `/shell
    - sleep 60
`})
		data := t.TempDir()
		s := startServer(t, db, data, "")
		newProject(t, s, repo)
		var p pipeline
		if code := s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p); code != 201 {
			t.Fatalf("run: %d", code)
		}
		s.waitPipeline(p.ID, func(p pipeline) bool { return p.job("slow").Status == "running" })
		var jobPIDs []int
		for deadline := time.Now().Add(time.Minute); len(jobPIDs) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			jobPIDs = nil
			for _, f := range []string{"daemon", "shell"} {
				if b, err := os.ReadFile(filepath.Join(pids, f)); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						jobPIDs = append(jobPIDs, pid)
					}
				}
			}
		}
		s.kill()

		s2 := startServer(t, db, data, "")
		p = s2.waitPipeline(p.ID, finished)
		slow, quick := p.job("slow"), p.job("quick")
		if slow.Status != "failed" || slow.FailureReason != "runner_system_failure" || !strings.Contains(slow.Error, "server stopped") {
			t.Errorf("slow = %+v, want failed with the restart as reason", slow)
		}
		if quick.Status != "success" {
			t.Errorf("quick = %+v, want its success kept", quick)
		}
		if log := s2.text(fmt.Sprintf("/api/jobs/%d/log", quick.ID)); !strings.Contains(log, "quick") {
			t.Errorf("quick's log lost: %q", log)
		}
		if p.Status != "failed" || p.Error == "" {
			t.Errorf("pipeline %s %q", p.Status, p.Error)
		}
		if len(jobPIDs) < 2 {
			t.Fatalf("the slow job's processes: %v", jobPIDs)
		}
		for _, pid := range jobPIDs {
			if !processEnded(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("process %d of the killed server's job runs on after the restart", pid)
			}
		}
	})
}

// processEnded waits a little for pid to be gone: a signal is delivered at
// once, the process ends soon after.
func processEnded(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); !processGone(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// TestServerNotifications checks the Slack and commit-status payloads a
// real server sends, against local receivers.
func TestServerNotifications(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]map[string]any{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		key := r.URL.Path
		if r.Header.Get("Authorization") != "" {
			key += " auth"
		}
		mu.Lock()
		got[key] = append(got[key], body)
		mu.Unlock()
	}))
	defer receiver.Close()
	t.Setenv("E2E_SLACK_URL", receiver.URL+"/slack")
	t.Setenv("E2E_GITHUB_TOKEN", "ghp-e2e-token")
	config := filepath.Join(t.TempDir(), "slipway.yml")
	os.WriteFile(config, []byte(fmt.Sprintf(`
notify:
  - type: slack
    url_env: E2E_SLACK_URL
    events: [pipeline.*]
  - type: github
    base_url: %s/github
    token_env: E2E_GITHUB_TOKEN
    events: [pipeline.*]
`, receiver.URL)), 0o644)
	repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": e2ePipeline})
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), config)
	// The project's repository is on GitHub as far as statuses go.
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main"}, nil); code != 201 {
		t.Fatal(code)
	}
	var p pipeline
	s.do("POST", "/api/projects/shop/pipelines", map[string]any{"ref": "main"}, &p)
	s.waitPipeline(p.ID, finished)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got["/slack"])
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slack := got["/slack"]
	if len(slack) < 2 {
		t.Fatalf("slack got %d messages: %v", len(slack), got)
	}
	last := slack[len(slack)-1]
	if _, ok := last["attachments"]; !ok {
		t.Errorf("slack message without attachments: %v", last)
	}
	text, _ := json.Marshal(last)
	if !strings.Contains(string(text), "shop") || !strings.Contains(string(text), "success") {
		t.Errorf("slack message lacks project or status: %s", text)
	}
	// The project links to its page; the commit has its title and author
	// (docs/notifications.md).
	if !strings.Contains(string(text), "/projects/shop|shop") || !strings.Contains(string(text), "Initial commit") || !strings.Contains(string(text), `*Author*\nDev"`) {
		t.Errorf("slack message lacks the project's link, the commit's title or its author: %s", text)
	}
	var statuses []map[string]any
	for k, v := range got {
		if strings.HasPrefix(k, "/github/repos/") && strings.HasSuffix(k, "/statuses/"+sha+" auth") {
			statuses = append(statuses, v...)
		}
	}
	if len(statuses) < 2 {
		t.Fatalf("commit statuses: %v", got)
	}
	states := []string{}
	for _, st := range statuses {
		states = append(states, fmt.Sprint(st["state"]))
		if st["context"] == nil || st["target_url"] == nil {
			t.Errorf("status without context or target_url: %v", st)
		}
	}
	if states[0] != "pending" || states[len(states)-1] != "success" {
		t.Errorf("states %v, want pending ... success", states)
	}
}

func jsonDecode(resp *http.Response, v any) {
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, v)
}
