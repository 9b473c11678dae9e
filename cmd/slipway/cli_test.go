package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/testenv"
)

// slipwayBin is the CLI built once for the end-to-end tests of this file.
var slipwayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slipway-cli")
	if err != nil {
		panic(err)
	}
	slipwayBin = filepath.Join(dir, "slipway")
	if out, err := exec.Command("go", "build", "-o", slipwayBin, ".").CombinedOutput(); err != nil {
		panic("building slipway: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// slipway runs the CLI in dir and returns its output and exit code.
func slipway(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(slipwayBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache-test"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

type report struct {
	Status string `json:"status"`
	Jobs   []struct {
		Name         string `json:"name"`
		Stage        string `json:"stage"`
		Status       string `json:"status"`
		AllowFailure bool   `json:"allow_failure"`
		ExitCode     int    `json:"exit_code"`
		Attempts     int    `json:"attempts"`
		DurationMS   *int64 `json:"duration_ms"`
	} `json:"jobs"`
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	return r
}

const demoPipeline = `
stages: [build, test, deploy]
variables:
  GREETING: hello
build:
  stage: build
  script:
    - echo "$GREETING from $CI_JOB_NAME on $CI_COMMIT_REF_NAME"
    - mkdir -p out && echo built > out/app.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - cat out/app.txt
flaky:
  stage: test
  script: [exit 3]
  allow_failure: true
skipped-for-mr:
  stage: test
  script: [echo never]
  only: [tags]
deploy:
  stage: deploy
  script: [echo deploying]
  when: manual
`

func TestRunPipelineEndToEnd(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": demoPipeline})
	reportPath := filepath.Join(dir, "report.json")
	out, errOut, code := slipway(t, dir, "run", "--report", reportPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"hello from build on main", "built", "Pipeline #"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every job line is prefixed with the job's name.
	if !strings.Contains(out, "build") || !strings.Contains(out, "| built") {
		t.Errorf("lines are not prefixed with job names:\n%s", out)
	}
	r := readReport(t, reportPath)
	if r.Status != "success" {
		t.Errorf("status = %s", r.Status)
	}
	got := map[string]string{}
	for _, j := range r.Jobs {
		got[j.Name] = j.Status
		if j.Name == "flaky" && (!j.AllowFailure || j.ExitCode != 3) {
			t.Errorf("flaky = %+v, want an allowed failure with exit code 3", j)
		}
		if j.DurationMS == nil || j.Attempts < 0 {
			t.Errorf("job %s lacks duration_ms or attempts", j.Name)
		}
	}
	want := map[string]string{"build": "success", "test": "success", "flaky": "failed", "deploy": "manual"}
	if len(got) != len(want) {
		t.Errorf("report jobs = %v, want %v (jobs left out by only/except are not reported)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("job %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestRunFailsAndPlaysManual(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  script: [echo "$TARGET"]
deploy:
  stage: deploy
  script: [test "$TARGET" = prod]
  when: manual
  allow_failure: false
`})
	reportPath := filepath.Join(dir, "r.json")
	out, _, code := slipway(t, dir, "run", "--manual", "deploy", "--variable", "TARGET=staging", "--report", reportPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1 for a failed pipeline\n%s", code, out)
	}
	if r := readReport(t, reportPath); r.Status != "failed" {
		t.Errorf("status = %s", r.Status)
	}
	out, _, code = slipway(t, dir, "run", "--manual", "deploy", "--variable", "TARGET=prod")
	if code != 0 || !strings.Contains(out, "prod") {
		t.Errorf("exit %d with TARGET=prod:\n%s", code, out)
	}
}

func TestRunNamedJobsAndList(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": demoPipeline})
	out, _, code := slipway(t, dir, "run", "--list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rows []struct {
		Name, Stage, When string
		AllowFailure      bool `json:"allow_failure"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--list --json: %v\n%s", err, out)
	}
	if len(rows) != 4 || rows[0].Name != "build" || rows[3].When != "manual" || !rows[2].AllowFailure {
		t.Errorf("rows = %+v", rows)
	}
	// A tag pipeline keeps the tags-only job.
	if out, _, _ := slipway(t, dir, "run", "--list", "--source", "push", "--ref", "main"); strings.Contains(out, "skipped-for-mr") {
		t.Errorf("only: [tags] job planned for a branch:\n%s", out)
	}
	reportPath := filepath.Join(dir, "r.json")
	if out, errOut, code := slipway(t, dir, "run", "test", "--needs", "--report", reportPath); code != 1 {
		// test needs nothing explicitly: without build's artifacts cat fails.
		t.Errorf("run test alone: exit %d, want 1 (its input comes from build)\n%s%s", code, out, errOut)
	}
	if r := readReport(t, reportPath); len(r.Jobs) != 1 || r.Jobs[0].Name != "test" {
		t.Errorf("named job run reported %+v", r.Jobs)
	}
}

func TestLintCommand(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "stages: [build]\njob:\n  stage: biuld\n  scirpt: [x]\n"})
	_, errOut, code := slipway(t, dir, "lint")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		`.gitlab-ci.yml:4:3: job job: unknown keyword "scirpt" (did you mean "script"?)`,
		`.gitlab-ci.yml:2:1: job job: stage "biuld" is not declared in stages (.pre, build, .post); did you mean "build"?`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("lint output lacks\n%s\ngot\n%s", want, errOut)
		}
	}
	good := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": demoPipeline})
	if out, errOut, code := slipway(t, good, "lint"); code != 0 {
		t.Errorf("lint of a good file: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRunBadSourceAndVariable(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": demoPipeline})
	if _, errOut, code := slipway(t, dir, "run", "--source", "carrier-pigeon"); code == 0 || !strings.Contains(errOut, "--source") {
		t.Errorf("bad source accepted: %d %s", code, errOut)
	}
	if _, errOut, code := slipway(t, dir, "run", "--variable", "NOEQUALS"); code == 0 || !strings.Contains(errOut, "KEY=VALUE") {
		t.Errorf("bad variable accepted: %d %s", code, errOut)
	}
}

// TestRunVariablesWinOverDotenv: pipeline variables outrank everything,
// dotenv reports of earlier jobs included, as in GitLab.
func TestRunVariablesWinOverDotenv(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
stages: [a, b]
write:
  stage: a
  script: [echo FOO=from-dotenv > build.env, echo BAR=from-dotenv >> build.env]
  artifacts:
    reports:
      dotenv: build.env
read:
  stage: b
  variables:
    FOO: from-job
  script: ['echo "FOO=$FOO BAR=$BAR"']
`})
	out, _, code := slipway(t, dir, "run", "--variable", "FOO=from-cli")
	if code != 0 || !strings.Contains(out, "FOO=from-cli BAR=from-dotenv") {
		t.Errorf("exit %d, want FOO from the CLI and BAR from dotenv:\n%s", code, out)
	}
}

// TestRunRefUsesThatCommitsPipeline: --ref runs another commit with that
// commit's own pipeline file.
func TestRunRefUsesThatCommitsPipeline(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "old:\n  script: [echo old pipeline]\n"})
	testenv.Git(t, dir, "tag", "v1")
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("new:\n  script: [echo new pipeline]\n"), 0o644)
	testenv.Git(t, dir, "commit", "-qam", "New pipeline")
	out, _, code := slipway(t, dir, "run", "--ref", "v1")
	if code != 0 || !strings.Contains(out, "old pipeline") || strings.Contains(out, "new pipeline") {
		t.Errorf("--ref v1: exit %d\n%s", code, out)
	}
	out, _, code = slipway(t, dir, "run")
	if code != 0 || !strings.Contains(out, "new pipeline") {
		t.Errorf("checked-out commit: exit %d\n%s", code, out)
	}
}

func TestRunExpiresOldArtifacts(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  script: [echo built > app]
  artifacts:
    paths: [app]
    expire_in: 1 second
`})
	work := filepath.Join(t.TempDir(), "work")
	reportPath := filepath.Join(dir, "report.json")
	if out, errOut, code := slipway(t, dir, "run", "--work-dir", work, "--report", reportPath); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var first struct {
		Jobs []struct {
			ArtifactsDir      string `json:"artifacts_dir"`
			ArtifactsExpireAt string `json:"artifacts_expire_at"`
		} `json:"jobs"`
	}
	data, _ := os.ReadFile(reportPath)
	if err := json.Unmarshal(data, &first); err != nil || len(first.Jobs) != 1 {
		t.Fatalf("report: %v\n%s", err, data)
	}
	job := first.Jobs[0]
	if _, err := time.Parse(time.RFC3339Nano, job.ArtifactsExpireAt); err != nil {
		t.Errorf("artifacts_expire_at = %q: %v", job.ArtifactsExpireAt, err)
	}
	if _, err := os.Stat(filepath.Join(job.ArtifactsDir, "app")); err != nil {
		t.Fatalf("artifacts of the first run: %v", err)
	}

	time.Sleep(1100 * time.Millisecond) // past expire_in
	_, errOut, code := slipway(t, dir, "run", "--work-dir", work)
	if code != 0 || !strings.Contains(errOut, "removed the expired artifacts of 1 jobs") {
		t.Errorf("second run: exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(job.ArtifactsDir); !os.IsNotExist(err) {
		t.Errorf("expired artifacts still in %s: %v", job.ArtifactsDir, err)
	}
}

// TestRunOutputLimit: past --output-limit a job's output is cut with one
// line that says so, the job goes on and succeeds; a limit of 0 is refused.
func TestRunOutputLimit(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "loud:\n  script:\n    - 'for i in $(seq 100); do echo \"line $i\"; done'\n    - echo still-running > proof\n    - cat proof\n"})
	out, errOut, code := slipway(t, dir, "run", "--output-limit", "300")
	notice := "Job's log exceeded limit of 300 bytes. Job execution will continue but no more output will be collected."
	if code != 0 || strings.Count(out, notice) != 1 || strings.Contains(out, "line 100") || strings.Contains(out, "| still-running") {
		t.Errorf("exit %d, want 0 with the output cut once at 300 bytes:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := slipway(t, dir, "run", "--output-limit", "0"); code == 0 || !strings.Contains(errOut, "--output-limit 0: want a positive number of bytes") {
		t.Errorf("--output-limit 0: exit %d: %s", code, errOut)
	}
}

// TestLintJSON: lint --json gives each problem's position and message, and
// the same exit status as the text output.
func TestLintJSON(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  scirpt: [x]\n"})
	out, errOut, code := slipway(t, dir, "lint", "--json")
	var res struct {
		File   string `json:"file"`
		Valid  bool   `json:"valid"`
		Errors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Col     int    `json:"col"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Valid || len(res.Errors) == 0 || errOut != "" {
		t.Fatalf("lint --json of a bad file: exit %d\n%s%s", code, out, errOut)
	}
	found := false
	for _, e := range res.Errors {
		found = found || strings.HasSuffix(e.File, ".gitlab-ci.yml") && e.Line == 2 && e.Col == 3 && strings.Contains(e.Message, `unknown keyword "scirpt"`)
	}
	if !found {
		t.Errorf("errors lack the unknown keyword at 2:3: %+v", res.Errors)
	}
	good := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": demoPipeline})
	if out, _, code := slipway(t, good, "lint", "--json"); code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Valid || len(res.Errors) != 0 {
		t.Errorf("lint --json of a good file: exit %d\n%s", code, out)
	}
}
