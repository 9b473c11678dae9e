package convert

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/convert/jenkinstest"
	"github.com/slipway-cd/slipway/internal/slug"
)

// review is the SmartCLIDE flavour of review apps: a review deployment on
// branches, its manual stop, and a deploy gated by a manual rule on main.
const review = `
stages: [build, review, deploy]
build:
  stage: build
  script: [echo built]
deploy_review:
  stage: review
  script: [echo "deploying review"]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    on_stop: stop_review
  rules:
    - if: $CI_COMMIT_BRANCH != "main"
stop_review:
  stage: review
  script: [echo "stopping review"]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
  rules:
    - if: $CI_COMMIT_BRANCH != "main"
      when: manual
deploy:
  stage: deploy
  script: [echo "deploying to production"]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - when: never
`

// A rule-level when: manual is an input, and where no rule adds the job
// its stage does not run: the gated deploy no longer runs on every branch,
// nor stop_review beside deploy_review.
func TestRuleLevelManualIsKept(t *testing.T) {
	out, warnings := Jenkins(load(t, review))
	for _, w := range warnings {
		if strings.Contains(w.Msg, "rules") {
			t.Errorf("rules that have a translation warn: %v", w)
		}
	}
	feature := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=feature/x")
	if got, want := feature.Ran(), []string{"build", "deploy_review"}; !slices.Equal(got, want) {
		t.Errorf("feature branch ran %q, want %q\n%s", got, want, out)
	}
	if s := feature.Find("skip", "stop_review"); len(s) != 1 || s[0].Reason != "input" {
		t.Errorf("stop_review on a feature branch: %+v, want it waiting for its input", s)
	}
	main := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main", "HARNESS_APPROVE=deploy")
	if got, want := main.Ran(), []string{"build", "deploy"}; !slices.Equal(got, want) {
		t.Errorf("main ran %q, want %q\n%s", got, want, out)
	}
	if got := main.Output("deploy", "script"); !strings.Contains(got, "deploying to production\n") {
		t.Errorf("deploy printed %q", got)
	}
	unapproved := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if slices.Contains(unapproved.Ran(), "deploy") || unapproved.Result != "ABORTED" {
		t.Errorf("main without approval ran %q with result %s; the deploy must wait for its input", unapproved.Ran(), unapproved.Result)
	}
}

// Rules that differ in when, allow_failure and variables pick them per
// ref, as GitLab does.
func TestRulesDecideWhenAllowFailureAndVariables(t *testing.T) {
	out, warnings := Jenkins(load(t, `
check:
  script:
    - echo "target=$TARGET"
    - exit 3
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      variables:
        TARGET: production
      allow_failure: true
    - if: $CI_COMMIT_TAG
      when: manual
    - when: on_success
`))
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	jenkinstest.Compile(t, map[string]string{"rules": out})
	main := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got := main.Output("check", "script"); !strings.Contains(got, "target=production\n") {
		t.Errorf("check on main printed %q, want the rule's TARGET\n%s", got, out)
	}
	if ends := main.Find("end", "check"); len(ends) != 1 || ends[0].Result != "UNSTABLE" || main.Result != "SUCCESS" {
		t.Errorf("check on main ended %+v, build %s; want an allowed failure", ends, main.Result)
	}
	feature := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=feature")
	if got := feature.Output("check", "script"); !strings.Contains(got, "target=\n") {
		t.Errorf("check on feature printed %q, want no TARGET", got)
	}
	if feature.Result != "FAILURE" {
		t.Errorf("check on feature: build %s, want FAILURE", feature.Result)
	}
	tag := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=v1", "TAG_NAME=v1")
	if in := tag.Find("input", "check"); len(in) != 1 || in[0].Approved || tag.Result != "ABORTED" {
		t.Errorf("check on a tag: inputs %+v, build %s; want an unanswered input", in, tag.Result)
	}
}

// A condition without translation keeps the stage from running, where it
// is reached, and the warning says so.
func TestUntranslatableConditionsKeepTheStageFromRunning(t *testing.T) {
	out, warnings := Jenkins(load(t, `
nightly:
  script: [echo nightly]
  rules:
    - if: $CI_COMMIT_BRANCH == "release"
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $CI_COMMIT_BRANCH == "main"
docs:
  script: [echo docs]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      changes: [docs/**]
    - if: $CI_COMMIT_BRANCH == "feature"
scheduled:
  script: [echo scheduled]
  only: [schedules]
not-scheduled:
  script: [echo not scheduled]
  except: [schedules]
`))
	var msgs []string
	for _, w := range warnings {
		msgs = append(msgs, w.String())
	}
	for _, want := range []string{
		"job nightly: rules[1]: if: $CI_PIPELINE_SOURCE is a GitLab predefined variable that Jenkins does not set (only == and != \"merge_request_event\" are translated); the stage does not run where this rule is reached",
		"job docs: rules[0]: changes",
		"job scheduled: only: schedules: Jenkins has no condition on how a pipeline was started; the stage does not run",
		"job not-scheduled: except: schedules: Jenkins has no condition on how a pipeline was started; the stage does not run",
	} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("no warning %q in %q", want, msgs)
		}
	}
	for branch, want := range map[string][]string{
		"release": {"nightly"},
		"main":    nil, // rule 1 is reached first: unknown, so not run
		"feature": {"docs"},
	} {
		run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME="+branch)
		if got := run.Ran(); !slices.Equal(got, want) {
			t.Errorf("%s ran %q, want %q\n%s", branch, got, want, out)
		}
	}
}

func TestScriptsRunWithBash(t *testing.T) {
	out, _ := Jenkins(load(t, `
job:
  script:
    - echo "shell=${BASH_VERSION:+bash}"
    - if [[ "a b" == "a b" ]]; then echo double-brackets; fi
    - false | true
`))
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	got := run.Output("job", "script")
	if !strings.Contains(got, "shell=bash\n") || !strings.Contains(got, "double-brackets\n") {
		t.Errorf("the script did not run with bash (this machine has it):\n%s", got)
	}
	if run.Result != "FAILURE" {
		t.Errorf("`false | true` passed: pipefail is off (build %s)", run.Result)
	}
}

// Global variables are expanded for each job, with its own variables and
// its predefined ones, as GitLab does.
func TestGlobalVariablesExpandPerJob(t *testing.T) {
	out, _ := Jenkins(load(t, `
variables:
  GREETING: "hello $CI_JOB_NAME"
  ENVIRONMENT: staging
  TARGET: "to-$ENVIRONMENT"
  IMAGE: "app:$CI_COMMIT_REF_SLUG"
  CACHE_DIR: "$CI_PROJECT_DIR/.cache"
first:
  script: [echo "$GREETING $TARGET $IMAGE $CACHE_DIR"]
second:
  variables:
    ENVIRONMENT: production
  script: [echo "$GREETING $TARGET $IMAGE"]
alone:
  inherit:
    variables: false
  script:
    - echo "${GREETING-unset} ${ENVIRONMENT-unset}"
`))
	branch := "Feature/ABC_x.1"
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME="+branch)
	image := "app:" + slug.Ref(branch)
	if got := run.Output("first", "script"); !strings.Contains(got, "\nhello first to-staging "+image+" ") || !strings.HasSuffix(got, "/ci-jobs/first/.cache\n") {
		t.Errorf("first printed %q\n%s", got, out)
	}
	if got, want := run.Output("second", "script"), "\nhello second to-production "+image+"\n"; !strings.HasSuffix(got, want) {
		t.Errorf("second printed %q, want it to end with %q", got, want)
	}
	// inherit:variables: false leaves the pipeline's variables undefined.
	if got, want := run.Output("alone", "script"), "\nunset unset\n"; !strings.HasSuffix(got, want) {
		t.Errorf("alone printed %q, want it to end with %q", got, want)
	}
}

// The harness evaluates a stage's when before its environment, as Jenkins
// does: conditions on a job's own variables must not read them from there.
func TestRulesSeeTheJobsVariables(t *testing.T) {
	out, _ := Jenkins(load(t, `
variables:
  MODE: slow
deploy:
  variables:
    DEPLOY: "yes"
    MODE: fast
  script: [echo deploying]
  rules:
    - if: $DEPLOY == "yes" && $MODE == "fast"
skipped:
  variables:
    DEPLOY: "no"
  script: [echo skipped]
  rules:
    - if: $DEPLOY == "yes"
`))
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got, want := run.Ran(), []string{"deploy"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q\n%s", got, want, out)
	}
}

// Each job starts from its own checkout with the artifacts of the jobs it
// depends on, not from a workspace shared with the jobs beside it.
func TestEachJobHasItsOwnWorkspace(t *testing.T) {
	scm := t.TempDir()
	if err := os.WriteFile(filepath.Join(scm, "src.txt"), []byte("source\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, warnings := Jenkins(load(t, `
stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p target && echo jar > target/app.jar && echo left > leftover.txt
  artifacts:
    paths: [target/]
a:
  stage: test
  script: [echo a > a-only.txt, test -f src.txt]
b:
  stage: test
  resource_group: production
  script:
    - test ! -e a-only.txt
    - test ! -e leftover.txt
    - test -f target/app.jar
    - test -f src.txt
no-artifacts:
  stage: test
  dependencies: []
  script: [test ! -e target/app.jar]
`))
	for _, w := range warnings {
		t.Errorf("warning: %v", w)
	}
	run := jenkinstest.ExecuteCheckout(t, out, t.TempDir(), scm, "BRANCH_NAME=main")
	if run.Result != "SUCCESS" {
		for _, e := range run.Events {
			if e.Event == "sh" {
				t.Logf("%s: %s", e.Stage, e.Output)
			}
		}
		t.Fatalf("build %s\n%s", run.Result, out)
	}
	if got := run.Find("lock", "b"); len(got) != 1 || got[0].Name != "production" {
		t.Errorf("b took locks %+v, want production", got)
	}
	if got := run.Find("unstash", "no-artifacts"); len(got) != 0 {
		t.Errorf("no-artifacts (dependencies: []) unstashed %+v", got)
	}
}

// workflow:rules decide whether any stage runs.
func TestWorkflowRulesDecideWhetherThePipelineRuns(t *testing.T) {
	out, warnings := Jenkins(load(t, `
workflow:
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - if: $CI_COMMIT_BRANCH == "main"
    - if: $CI_MERGE_REQUEST_IID
a:
  script: [echo a]
  rules:
    - when: on_success
b:
  script: [echo b]
c:
  stage: deploy
  script: [echo c]
`))
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	for name, tc := range map[string]struct {
		env  []string
		want []string
	}{
		"main":    {[]string{"BRANCH_NAME=main"}, []string{"a", "b", "c"}},
		"feature": {[]string{"BRANCH_NAME=feature"}, nil},
		"tag":     {[]string{"BRANCH_NAME=v1", "TAG_NAME=v1"}, nil},
		// b and c have GitLab's default only: [branches, tags].
		"change": {[]string{"BRANCH_NAME=PR-7", "CHANGE_ID=7", "CHANGE_BRANCH=feature"}, []string{"a"}},
	} {
		run := jenkinstest.Execute(t, out, t.TempDir(), tc.env...)
		if got := run.Ran(); !slices.Equal(got, tc.want) {
			t.Errorf("%s ran %q, want %q\n%s", name, got, tc.want, out)
		}
	}
}

// A job that needs a job of its own stage runs after it.
func TestNeedsWithinAStageOrderTheJobs(t *testing.T) {
	out, warnings := Jenkins(load(t, `
stages: [build, test]
compile:
  stage: build
  script: [mkdir -p bin && echo app > bin/app]
  artifacts:
    paths: [bin/]
container:
  stage: build
  needs: [compile]
  script: [test -f bin/app && echo "container of $(cat bin/app)"]
lint:
  stage: build
  script: [echo lint]
test:
  stage: test
  needs: []
  script: [echo test]
`))
	var msgs []string
	for _, w := range warnings {
		msgs = append(msgs, w.String())
	}
	for _, want := range []string{
		"job container: needs: compile: compile is in the same stage; the stage runs after compile's group",
		"job test: needs: []: Jenkins has no job graph; the stage waits for all earlier stages",
	} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("no warning %q in %q", want, msgs)
		}
	}
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got, want := run.Ran(), []string{"compile", "lint", "container", "test"}; !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q\n%s", got, want, out)
	}
	if got := run.Output("container", "script"); !strings.HasSuffix(got, "container of app\n") {
		t.Errorf("container printed %q", got)
	}
}

// TestRulesMatchGitLabPlan runs the review pipeline, with every input
// approved, for several refs and checks that the stages that ran are the
// jobs internal/ci plans for the same ref.
func TestRulesMatchGitLabPlan(t *testing.T) {
	yaml := review + `
mr-only:
  stage: build
  script: [echo mr]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: always
    - if: $CI_COMMIT_REF_SLUG == "feature-x"
      variables:
        EXTRA: "yes"
release:
  stage: deploy
  script: [echo release]
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\d+/
      when: delayed
      start_in: 1 second
`
	cfg := load(t, yaml)
	out, warnings := Jenkins(cfg)
	if len(warnings) != 0 {
		var msgs []string
		for _, w := range warnings {
			if !strings.Contains(w.Msg, "environment:") {
				msgs = append(msgs, w.String())
			}
		}
		if len(msgs) > 0 {
			t.Errorf("warnings: %q", msgs)
		}
	}
	var all []string
	for _, j := range cfg.Jobs {
		all = append(all, j.Name)
	}
	for _, tc := range []struct {
		name string
		info ci.PipelineInfo
		env  []string
	}{
		{"main", ci.PipelineInfo{Branch: "main", Source: "push"}, []string{"BRANCH_NAME=main"}},
		{"feature", ci.PipelineInfo{Branch: "feature/x", Source: "push"}, []string{"BRANCH_NAME=feature/x"}},
		{"tag", ci.PipelineInfo{Tag: "v1.0", Source: "push"}, []string{"BRANCH_NAME=v1.0", "TAG_NAME=v1.0"}},
		{"merge request", ci.PipelineInfo{Source: "merge_request_event", MergeRequest: &ci.MergeRequestInfo{IID: 7, SourceBranch: "feature/x", TargetBranch: "main"}},
			[]string{"BRANCH_NAME=PR-7", "CHANGE_ID=7", "CHANGE_BRANCH=feature/x", "CHANGE_TARGET=main"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.info.SHA = strings.Repeat("a", 40)
			plan, err := ci.NewPlan(cfg, ci.Context{Predefined: ci.Predefined(tc.info)})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, j := range plan.Jobs {
				want = append(want, j.Name)
			}
			run := jenkinstest.Execute(t, out, t.TempDir(), append(tc.env, "HARNESS_APPROVE="+strings.Join(all, ","))...)
			got := run.Ran()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Jenkins ran %q; GitLab plans %q\n%s", got, want, out)
			}
		})
	}
}

// GitLab sets CI_JOB_MANUAL for every manual job a user starts, those a
// rule makes manual too, and for no other.
func TestCIJobManualForRuleManualJobs(t *testing.T) {
	out, _ := Jenkins(load(t, `
gated:
  script:
    - echo "manual=${CI_JOB_MANUAL:-unset}"
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
mixed:
  script:
    - echo "manual=${CI_JOB_MANUAL:-unset}"
  rules:
    - if: $CI_COMMIT_TAG
      when: manual
    - when: on_success
`))
	main := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main", "HARNESS_APPROVE=gated")
	if got := main.Output("gated", "script"); !strings.Contains(got, "manual=true\n") {
		t.Errorf("gated, played on main, printed %q, want manual=true\n%s", got, out)
	}
	if got := main.Output("mixed", "script"); !strings.Contains(got, "manual=unset\n") {
		t.Errorf("mixed on main (not manual) printed %q, want manual=unset", got)
	}
	tag := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=v1", "TAG_NAME=v1", "HARNESS_APPROVE=mixed")
	if got := tag.Output("mixed", "script"); !strings.Contains(got, "manual=true\n") {
		t.Errorf("mixed, played on a tag, printed %q, want manual=true\n%s", got, out)
	}
}

// A job's services run as Docker Pipeline sidecars: each started with
// withRun (the job's variables and its own, its command), the job's image
// inside, linked to each under GitLab's aliases, the steps in it; a cache,
// which Jenkins lacks, is warned naming its key and paths.
func TestServicesBecomeSidecars(t *testing.T) {
	out, warnings := Jenkins(load(t, `
variables:
  DATABASE: shop
test:
  image: golang:1.26
  services:
    - name: postgres:16
      alias: db
      variables:
        POSTGRES_DB: shop
    - name: registry.example.com/my-group/cache:2
      command: ["--maxmemory", "64mb"]
  cache:
    key: go-mod
    paths: [.cache/go-build, vendor/]
  script:
    - echo "testing against db"
`))
	var msgs []string
	for _, w := range warnings {
		msgs = append(msgs, w.Msg)
	}
	all := strings.Join(msgs, "\n")
	if strings.Contains(all, "services") || !strings.Contains(all, `key "go-mod", paths .cache/go-build, vendor/ start empty`) {
		t.Errorf("warnings:\n%s\nwant none about services, one naming the cache's key and paths", all)
	}
	jenkinstest.Compile(t, map[string]string{"services": out})
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	started := run.Find("withRun", "test")
	if len(started) != 2 || started[0].Image != "postgres:16" || started[1].Image != "registry.example.com/my-group/cache:2" {
		t.Fatalf("services started: %+v\n%s", started, out)
	}
	if a := started[0].Args; !strings.Contains(a, "-e DATABASE") || !strings.Contains(a, "-e 'POSTGRES_DB=shop'") {
		t.Errorf("postgres runs with %q, want the job's variables and its own", a)
	}
	if started[1].Command != "'--maxmemory' '64mb'" {
		t.Errorf("cache's command: %q", started[1].Command)
	}
	inside := run.Find("inside", "test")
	if len(inside) != 1 || inside[0].Image != "golang:1.26" {
		t.Fatalf("the job's image: %+v", inside)
	}
	pg, cache := started[0].Name, started[1].Name
	for _, link := range []string{pg + ":db", pg + ":postgres", cache + ":my-group__cache", cache + ":my-group-cache"} {
		if !strings.Contains(inside[0].Args, "--link "+link) {
			t.Errorf("the job's container runs with %q, want --link %s", inside[0].Args, link)
		}
	}
	var order []string
	for _, e := range run.Events {
		if e.Stage == "test" && e.Event != "stage" && e.Event != "end" {
			order = append(order, e.Event)
		}
	}
	if want := []string{"withRun", "withRun", "inside", "sh", "stop", "stop"}; !slices.Equal(order, want) {
		t.Errorf("events %q, want %q", order, want)
	}
	if got := run.Output("test", "script"); !strings.Contains(got, "testing against db\n") || run.Result != "SUCCESS" {
		t.Errorf("script printed %q, build %s", got, run.Result)
	}
}
