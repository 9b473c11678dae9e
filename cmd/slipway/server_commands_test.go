package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/testenv"
)

const twoStagePipeline = `
stages: [build, test]
build:
  stage: build
  script: ['echo "built with $GREETING"']
test:
  stage: test
  script: [exit 4]
`

// TestProjectVariableTriggerCommandsCLI does with the CLI what needed curl:
// projects, their variables and trigger tokens.
func TestProjectVariableTriggerCommandsCLI(t *testing.T) {
	s := startTestServer(t)
	repo := filepathOfRepo(t, "build:\n  script: ['echo \"greeting=$GREETING\"']\n")
	if out, errOut, code := s.cli(t, "a-webhook-secret-of-some-length\n", nil, "project", "create", "shop", "--repo", repo, "--webhook-secret-stdin"); code != 0 ||
		!strings.Contains(out, "project 1 shop created") {
		t.Fatalf("project create: exit %d\n%s%s", code, out, errOut)
	}
	if out := s.ok(t, "project", "list"); !regexp.MustCompile(`(?m)^1\s+shop\s+` + regexp.QuoteMeta(repo) + `\s+main\s+\.gitlab-ci\.yml\s+false`).MatchString(out) {
		t.Errorf("project list:\n%s", out)
	}
	var shown, api map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "project", "show", "shop", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	s.get(t, "/api/projects/shop", &api)
	if !reflect.DeepEqual(shown, api) {
		t.Errorf("project show --json = %v, the API says %v", shown, api)
	}

	// A value from stdin, masked; another from --value.
	if out, errOut, code := s.cli(t, "s3cr3t-value-42\n", nil, "variable", "set", "shop", "GREETING", "--masked"); code != 0 || !strings.Contains(out, "variable GREETING of shop set (masked true") {
		t.Fatalf("variable set: exit %d\n%s%s", code, out, errOut)
	}
	s.ok(t, "variable", "set", "shop", "PLAIN", "--value", "visible", "--protected")
	out := s.ok(t, "variable", "list", "shop")
	if !regexp.MustCompile(`(?m)^GREETING\s+\[MASKED\]\s+true\s+false`).MatchString(out) || !regexp.MustCompile(`(?m)^PLAIN\s+visible\s+false\s+true`).MatchString(out) ||
		strings.Contains(out, "s3cr3t") {
		t.Errorf("variable list:\n%s", out)
	}
	if _, errOut, code := s.cli(t, "", []string{"SLIPWAY_TOKEN="}, "variable", "list", "shop"); code != 1 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "set $SLIPWAY_TOKEN") {
		t.Errorf("variable list without the token: exit %d: %s", code, errOut)
	}
	s.ok(t, "variable", "delete", "shop", "PLAIN")
	if out := s.ok(t, "variable", "list", "shop"); strings.Contains(out, "PLAIN") {
		t.Errorf("PLAIN after delete:\n%s", out)
	}

	// The token alone on stdout; list shows its first characters only.
	token, errOut, code := s.cli(t, "", nil, "trigger", "create", "shop", "--description", "deploys from CI")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "slpt-") || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("trigger create: exit %d %q %s", code, token, errOut)
	}
	out = s.ok(t, "trigger", "list", "shop")
	if !strings.Contains(out, "deploys from CI") || !strings.Contains(out, "never") || strings.Contains(out, token) {
		t.Errorf("trigger list:\n%s", out)
	}
	out, errOut, code = s.cli(t, "", []string{"SLIPWAY_TRIGGER_TOKEN=" + token, "SLIPWAY_TOKEN="}, "trigger", "run", "shop", "--variable", "EXTRA=1", "--json")
	var p struct {
		ID        int64             `json:"id"`
		Source    string            `json:"source"`
		Variables map[string]string `json:"variables"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.ID == 0 || p.Source != "trigger" {
		t.Fatalf("trigger run: exit %d\n%s%s", code, out, errOut)
	}
	if out := s.ok(t, "trigger", "list", "shop"); strings.Contains(out, "never") {
		t.Errorf("trigger list after a run shows no last use:\n%s", out)
	}
	s.ok(t, "trigger", "delete", "shop", "1")
	if _, errOut, code := s.cli(t, "", []string{"SLIPWAY_TRIGGER_TOKEN=" + token}, "trigger", "run", "shop"); code != 1 || !strings.Contains(errOut, "invalid trigger token") {
		t.Errorf("trigger run with a deleted token: exit %d: %s", code, errOut)
	}
	if _, errOut, code := s.cli(t, "", nil, "trigger", "delete", "shop", "1"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("trigger delete twice: exit %d: %s", code, errOut)
	}
}

// TestPipelineRunWaitAndJSONCLI: run prints the new pipeline's ID (and its
// JSON with --json); --wait shows each job as it finishes and where its
// log is; show --json is the API's JSON.
func TestPipelineRunWaitAndJSONCLI(t *testing.T) {
	s := startTestServer(t)
	shopProject(t, s, twoStagePipeline)

	out := s.ok(t, "pipeline", "run", "shop", "--json")
	var created struct {
		ID     int64  `json:"id"`
		Ref    string `json:"ref"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == 0 || created.Ref != "main" {
		t.Fatalf("pipeline run --json: %v\n%s", err, out)
	}

	out, errOut, code := s.cli(t, "", nil, "pipeline", "run", "shop", "--variable", "GREETING=hi", "--wait")
	var id int64
	if _, err := fmt.Sscanf(out, "pipeline %d", &id); err != nil || code != 1 {
		t.Fatalf("pipeline run --wait of a failing pipeline: exit %d, want 1\n%s%s", code, out, errOut)
	}
	var p struct {
		Jobs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"jobs"`
	}
	s.get(t, fmt.Sprintf("/api/pipelines/%d", id), &p)
	jobID := map[string]int64{}
	for _, j := range p.Jobs {
		jobID[j.Name] = j.ID
	}
	// Each job once, in the order they finished, the failure with its log.
	build := fmt.Sprintf(`job %d build \(build\): success in \d`, jobID["build"])
	test := fmt.Sprintf(`job %d test \(test\): failed \(script_failure\) in [^;]+; its log: slipway job log %d`, jobID["test"], jobID["test"])
	if !regexp.MustCompile(`(?s)`+build+`.*`+test).MatchString(out) || strings.Count(out, "build (build)") != 1 {
		t.Errorf("pipeline run --wait did not show the jobs as they finished:\n%s", out)
	}

	var shown, api map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "pipeline", "show", fmt.Sprint(id), "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	s.get(t, fmt.Sprintf("/api/pipelines/%d", id), &api)
	if !reflect.DeepEqual(shown, api) {
		t.Errorf("pipeline show --json = %v\nthe API says %v", shown, api)
	}

	// --wait --json: progress on stderr, the finished pipeline on stdout.
	out, errOut, code = s.cli(t, "", nil, "pipeline", "run", "shop", "--wait", "--json")
	var done struct {
		Status string `json:"status"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &done) != nil || done.Status != "failed" || !strings.Contains(errOut, "test (test): failed") {
		t.Errorf("pipeline run --wait --json: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestJobRetryPrintsTheNewJobCLI: a retry is a new job; the CLI says
// which, as pipeline run does (it printed nothing).
func TestJobRetryPrintsTheNewJobCLI(t *testing.T) {
	s := startTestServer(t)
	shopProject(t, s, twoStagePipeline)
	out, errOut, code := s.cli(t, "", nil, "pipeline", "run", "shop", "--wait")
	var pipeline int64
	if _, err := fmt.Sscanf(out, "pipeline %d", &pipeline); err != nil || code != 1 {
		t.Fatalf("pipeline run --wait: exit %d, want 1\n%s%s", code, out, errOut)
	}
	var p struct {
		Jobs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"jobs"`
	}
	s.get(t, fmt.Sprintf("/api/pipelines/%d", pipeline), &p)
	var failed int64
	for _, j := range p.Jobs {
		if j.Name == "test" {
			failed = j.ID
		}
	}

	out = s.ok(t, "job", "retry", fmt.Sprint(failed))
	var retried int64
	if _, err := fmt.Sscanf(out, "job %d test (test)", &retried); err != nil || retried == failed || !strings.Contains(out, fmt.Sprintf("slipway job log %d", retried)) {
		t.Fatalf("job retry %d printed %q, want the new job's id and how to read its log", failed, out)
	}
	var job struct {
		Name    string `json:"name"`
		Attempt int    `json:"attempt"`
	}
	s.get(t, fmt.Sprintf("/api/jobs/%d", retried), &job)
	if job.Name != "test" || job.Attempt < 2 {
		t.Errorf("job %d that retry printed is %+v, not the new attempt of test", retried, job)
	}

	// --json: the API's answer, the pipeline with the new attempt (of a
	// pipeline of its own: the first runs its retry).
	out, errOut, code = s.cli(t, "", nil, "pipeline", "run", "shop", "--wait")
	if _, err := fmt.Sscanf(out, "pipeline %d", &pipeline); err != nil || code != 1 {
		t.Fatalf("pipeline run --wait: exit %d, want 1\n%s%s", code, out, errOut)
	}
	s.get(t, fmt.Sprintf("/api/pipelines/%d", pipeline), &p)
	for _, j := range p.Jobs {
		if j.Name == "test" {
			failed = j.ID
		}
	}
	out = s.ok(t, "job", "retry", fmt.Sprint(failed), "--json")
	var answer struct {
		ID   int64 `json:"id"`
		Jobs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.ID != pipeline {
		t.Fatalf("job retry --json: %v\n%s", err, out)
	}
	for _, j := range answer.Jobs {
		if j.Name == "test" && j.ID <= failed {
			t.Errorf("job retry --json lists job %d for test, not a new attempt", j.ID)
		}
	}
}

// TestEnvListTakesTheProjectAsArgumentCLI: PROJECT is the first argument,
// as in pipeline list; the old --project still works, with a notice.
func TestEnvListTakesTheProjectAsArgumentCLI(t *testing.T) {
	s := startTestServer(t)
	shopProject(t, s, twoStagePipeline)
	if out := s.ok(t, "env", "list", "shop"); !strings.HasPrefix(out, "ID") {
		t.Errorf("env list shop:\n%s", out)
	}
	if out := strings.TrimSpace(s.ok(t, "env", "list", "shop", "--json")); out != "[]" {
		t.Errorf("env list --json of a project without environments: %s", out)
	}
	out, errOut, code := s.cli(t, "", nil, "env", "list", "--project", "shop")
	if code != 0 || !strings.HasPrefix(out, "ID") || !strings.Contains(errOut, "--project is deprecated: give the project as the first argument") {
		t.Errorf("env list --project: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := s.cli(t, "", nil, "env", "list"); code != 1 || strings.TrimSpace(errOut) != "slipway: missing PROJECT (usage: slipway env list PROJECT [flags])" {
		t.Errorf("env list without a project: exit %d: %q", code, errOut)
	}
}

// TestCLIErrorsAreOneLine: a missing argument is named, a server that does
// not answer is named with what to check, each in one line.
func TestCLIErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"release", "run"}, "slipway: missing MANIFEST (usage: slipway release run MANIFEST [flags])"},
		{[]string{"pipeline", "list"}, "slipway: missing PROJECT (usage: slipway pipeline list PROJECT [flags])"},
		{[]string{"schedule", "pause", "shop"}, "slipway: missing SCHEDULE-ID (usage: slipway schedule pause PROJECT SCHEDULE-ID [flags])"},
		{[]string{"image", "promote"}, "slipway: missing SRC and DST (usage: slipway image promote SRC DST [flags])"},
		{[]string{"pipeline", "show", "1", "2"}, `slipway: unexpected argument "2" (usage: slipway pipeline show PIPELINE-ID [flags])`},
		{[]string{"pipeline", "list", "shop", "--server", "http://127.0.0.1:1"},
			"slipway: server http://127.0.0.1:1 did not answer (connection refused): check --server or $SLIPWAY_SERVER, and that slipway serve runs there"},
		{[]string{"job", "log", "7", "--server", "http://127.0.0.1:1"},
			"slipway: server http://127.0.0.1:1 did not answer (connection refused): check --server or $SLIPWAY_SERVER, and that slipway serve runs there"},
	} {
		_, errOut, code := slipway(t, dir, c.args...)
		if code != 1 || strings.TrimRight(errOut, "\n") != c.want {
			t.Errorf("slipway %s: exit %d\n got %q\nwant %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}

// TestYAMLErrorsHaveAColumnCLI: a YAML syntax error names the line and
// column of the problem, and where what it is in starts, in every file
// the CLI reads; yaml.v3 alone gave a line at most.
func TestYAMLErrorsHaveAColumnCLI(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM debian:12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := "targets:\n  web: {compose: [a\n"
	for name, args := range map[string][]string{
		".gitlab-ci.yml":      {"lint"},
		"deploy.yaml":         {"deploy", "status"},
		"slipway-gitops.yaml": {"gitops", "reconcile", "--state", filepath.Join(dir, "state")},
		"policy.yaml":         {"registry", "cleanup", "--policy", "policy.yaml", "--data", filepath.Join(dir, "registry")},
		"release.yml":         {"release", "plan", "release.yml"},
		"hadolint.yaml":       {"lint", "dockerfile", "--config", "hadolint.yaml", "Dockerfile"},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := slipway(t, dir, args...)
		want := name + `:3:1: invalid (JSON or )?YAML: did not find expected ',' or '\]' \(in a flow sequence that starts at 2:18\)`
		if code != 1 || !regexp.MustCompile(`^(slipway: )?`+want+"\n$").MatchString(errOut) {
			t.Errorf("slipway %s: exit %d: %q, want one line matching %s", strings.Join(args, " "), code, errOut, want)
		}
	}
}

// TestGitopsReconcileAsksTheServerCLI: gitops reconcile DEPLOYMENT asks
// the server for a pass, as flux reconcile asks its controller (it took
// curl before).
func TestGitopsReconcileAsksTheServerCLI(t *testing.T) {
	ops := testenv.GitRepo(t, map[string]string{"apps/README": "no apps yet\n"})
	dir := t.TempDir()
	gitopsFile := filepath.Join(dir, "slipway-gitops.yaml")
	if err := os.WriteFile(gitopsFile, []byte("sources: [{name: ops, url: "+ops+", interval: 1h}]\n"+
		"deployments: [{name: prod, source: ops, path: apps, interval: 1h}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, "gitops:\n  config: "+gitopsFile+"\n  state: "+filepath.Join(dir, "state")+"\n")
	if out := s.ok(t, "gitops", "reconcile", "prod"); !strings.HasPrefix(out, "deployment prod: reconcile requested") {
		t.Errorf("gitops reconcile prod: %s", out)
	}
	if _, errOut, code := s.cli(t, "", nil, "gitops", "reconcile", "staging"); code != 1 || !strings.Contains(errOut, "404 Not Found") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("gitops reconcile of an unknown deployment: exit %d: %s", code, errOut)
	}
	if _, errOut, code := s.cli(t, "", nil, "gitops", "reconcile", "prod", "--config", gitopsFile); code != 1 || !strings.Contains(errOut, "--config is for a pass of this command") {
		t.Errorf("gitops reconcile prod --config: exit %d: %s", code, errOut)
	}
}
