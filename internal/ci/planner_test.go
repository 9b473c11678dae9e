package ci

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func plan(t *testing.T, yml string, info PipelineInfo, mod ...func(*Context)) *Plan {
	t.Helper()
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": yml})
	ctx := Context{Predefined: Predefined(info)}
	for _, m := range mod {
		m(&ctx)
	}
	p, err := NewPlan(cfg, ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func names(p *Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, j.Name)
	}
	return out
}

var (
	pushMain = PipelineInfo{Source: "push", Branch: "main", DefaultBranch: "main", SHA: "0123456789abcdef0123456789abcdef01234567"}
	pushFeat = PipelineInfo{Source: "push", Branch: "feature/Login-Page", DefaultBranch: "main", SHA: "0123456789abcdef0123456789abcdef01234567"}
	tagV1    = PipelineInfo{Source: "push", Tag: "v1.2.0", DefaultBranch: "main", SHA: "0123456789abcdef0123456789abcdef01234567"}
	mrFeat   = PipelineInfo{Source: "merge_request_event", DefaultBranch: "main", SHA: "0123456789abcdef0123456789abcdef01234567",
		MergeRequest: &MergeRequestInfo{IID: 7, SourceBranch: "feature", TargetBranch: "main", Title: "Add login"}}
	nightly = PipelineInfo{Source: "schedule", Branch: "main", DefaultBranch: "main", SHA: "0123456789abcdef0123456789abcdef01234567"}
)

func TestRulesIfWhenAndVariables(t *testing.T) {
	yml := `
variables:
  DEPLOY_TO: nowhere
build:
  script: [make]
deploy:
  script: [deploy]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      variables:
        DEPLOY_TO: production
    - if: $CI_COMMIT_TAG =~ /^v\d+/
      when: manual
    - when: never
mr-only:
  script: [x]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
nightly:
  script: [x]
  rules:
    - if: '$CI_PIPELINE_SOURCE == "schedule"'
      allow_failure: true
`
	p := plan(t, yml, pushMain)
	if got := names(p); !reflect.DeepEqual(got, []string{"build", "deploy"}) {
		t.Errorf("push to main: jobs %v", got)
	}
	if v, _ := p.Job("deploy").Variables.Get("DEPLOY_TO"); v.Value != "production" {
		t.Errorf("rule variables must win over global ones: %q", v.Value)
	}
	p = plan(t, yml, tagV1)
	d := p.Job("deploy")
	if d == nil || d.When != Manual || d.AllowFailure.Allowed {
		t.Errorf("tag: deploy = %+v, want manual and blocking (rules manual defaults to allow_failure false)", d)
	}
	if got := names(plan(t, yml, pushFeat)); !reflect.DeepEqual(got, []string{"build"}) {
		t.Errorf("feature push: %v", got)
	}
	// Jobs without rules are not in merge request pipelines (only: branches, tags).
	if got := names(plan(t, yml, mrFeat)); !reflect.DeepEqual(got, []string{"mr-only"}) {
		t.Errorf("merge request: %v", got)
	}
	n := plan(t, yml, nightly).Job("nightly")
	if n == nil || !n.AllowFailure.Allowed {
		t.Errorf("schedule: nightly = %+v", n)
	}
}

func TestRulesChangesAndExists(t *testing.T) {
	yml := `
docs:
  script: [x]
  rules:
    - changes: ["docs/**/*.md"]
docker:
  script: [x]
  rules:
    - exists: [Dockerfile]
`
	withFiles := func(changed ...string) func(*Context) {
		return func(c *Context) {
			c.Files = []string{"Dockerfile", "docs/a/b.md"}
			c.Changed, c.ChangesKnown = changed, true
		}
	}
	if got := names(plan(t, yml, pushMain, withFiles("docs/a/b.md"))); !reflect.DeepEqual(got, []string{"docs", "docker"}) {
		t.Errorf("docs changed: %v", got)
	}
	if got := names(plan(t, yml, pushMain, withFiles("main.go"))); !reflect.DeepEqual(got, []string{"docker"}) {
		t.Errorf("code changed: %v", got)
	}
	// Without a known diff (new branch, local run) changes always match.
	if got := names(plan(t, yml, pushMain)); !reflect.DeepEqual(got, []string{"docs"}) {
		t.Errorf("unknown diff, no files: %v", got)
	}
}

func TestOnlyExcept(t *testing.T) {
	yml := `
default-refs:
  script: [x]
main-only:
  script: [x]
  only: [main]
release:
  script: [x]
  only: [tags]
  except: [/-rc$/]
feature:
  script: [x]
  only:
    refs: [/^feature\//]
    variables: [$CI_COMMIT_REF_SLUG =~ /login/]
mrs:
  script: [x]
  only: [merge_requests]
no-schedule:
  script: [x]
  except: [schedules]
`
	cases := []struct {
		info PipelineInfo
		want []string
	}{
		{pushMain, []string{"default-refs", "main-only", "no-schedule"}},
		{tagV1, []string{"default-refs", "release", "no-schedule"}},
		{PipelineInfo{Source: "push", Tag: "v2.0.0-rc", SHA: "abc"}, []string{"default-refs", "no-schedule"}},
		{pushFeat, []string{"default-refs", "feature", "no-schedule"}},
		{mrFeat, []string{"mrs"}},
		{nightly, []string{"default-refs", "main-only"}},
	}
	for _, c := range cases {
		if got := names(plan(t, yml, c.info)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s%s: %v, want %v", c.info.Source, c.info.Branch, c.info.Tag, got, c.want)
		}
	}
}

func TestWorkflowRules(t *testing.T) {
	yml := `
workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      variables:
        ENV: prod
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
job:
  script: [x]
  rules:
    - when: always
`
	p := plan(t, yml, pushMain)
	if v, _ := p.Job("job").Variables.Get("ENV"); v.Value != "prod" {
		t.Errorf("workflow rule variables not applied: %+v", p.Job("job").Variables)
	}
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": yml})
	if _, err := NewPlan(cfg, Context{Predefined: Predefined(pushFeat)}); !errors.Is(err, ErrNoPipeline) {
		t.Errorf("feature branch: err = %v, want ErrNoPipeline", err)
	}
}

func TestParallelAndMatrix(t *testing.T) {
	yml := `
stages: [build, test]
build:
  stage: build
  script: [x]
  parallel: 3
deploy:
  stage: build
  script: [x]
  parallel:
    matrix:
      - PROVIDER: aws
        STACK: [monitoring, app]
      - PROVIDER: gcp
        STACK: data
test:
  stage: test
  script: [x]
  needs:
    - build
    - job: deploy
      parallel:
        matrix:
          - PROVIDER: aws
            STACK: app
`
	p := plan(t, yml, pushMain)
	want := []string{"build 1/3", "build 2/3", "build 3/3", "deploy: [aws, monitoring]", "deploy: [aws, app]", "deploy: [gcp, data]", "test"}
	if got := names(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("jobs = %q\nwant %q", got, want)
	}
	b2 := p.Job("build 2/3")
	if b2.NodeIndex != 2 || b2.NodeTotal != 3 {
		t.Errorf("build 2/3 node = %d/%d", b2.NodeIndex, b2.NodeTotal)
	}
	if v, _ := b2.Variables.Get("CI_NODE_INDEX"); v.Value != "2" {
		t.Errorf("CI_NODE_INDEX = %q", v.Value)
	}
	if v, _ := p.Job("deploy: [gcp, data]").Variables.Get("STACK"); v.Value != "data" {
		t.Errorf("matrix variable STACK = %q", v.Value)
	}
	var needs []string
	for _, n := range p.Job("test").Needs {
		needs = append(needs, n.Job)
	}
	if want := []string{"build 1/3", "build 2/3", "build 3/3", "deploy: [aws, app]"}; !reflect.DeepEqual(needs, want) {
		t.Errorf("needs = %q, want %q", needs, want)
	}
}

func TestNeedsAndDependencies(t *testing.T) {
	yml := `
stages: [build, test, deploy]
a: {stage: build, script: [x]}
b: {stage: build, script: [x]}
c:
  stage: test
  script: [x]
  needs: [a, {job: b, artifacts: false}, {job: ghost, optional: true}]
d: {stage: deploy, script: [x]}
e: {stage: deploy, script: [x], dependencies: [a]}
f: {stage: deploy, script: [x], needs: []}
manual:
  stage: deploy
  script: [x]
  when: manual
`
	p := plan(t, yml, pushMain)
	c := p.Job("c")
	if len(c.Needs) != 2 || !reflect.DeepEqual(c.Dependencies, []string{"a"}) {
		t.Errorf("c: needs %+v deps %v", c.Needs, c.Dependencies)
	}
	if d := p.Job("d"); d.Needs != nil || !reflect.DeepEqual(d.Dependencies, []string{"a", "b", "c"}) {
		t.Errorf("d: needs %+v deps %v (all earlier stages)", d.Needs, d.Dependencies)
	}
	if e := p.Job("e"); !reflect.DeepEqual(e.Dependencies, []string{"a"}) {
		t.Errorf("e deps %v", e.Dependencies)
	}
	if f := p.Job("f"); f.Needs == nil || len(f.Needs) != 0 {
		t.Errorf("f: needs: [] must start at once: %#v", f.Needs)
	}
	if m := p.Job("manual"); !m.AllowFailure.Allowed {
		t.Errorf("job-level manual must be optional (allow_failure true)")
	}
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
a: {script: [x], rules: [{if: $NEVER}]}
b: {script: [x], needs: [a]}
`})
	_, err := NewPlan(cfg, Context{Predefined: Predefined(pushMain)})
	if err == nil || !strings.Contains(err.Error(), `needs "a", which is not in this pipeline`) {
		t.Errorf("err = %v", err)
	}
}

func TestPredefinedVariables(t *testing.T) {
	info := pushFeat
	info.Message = "Add login\n\nLonger text"
	vars := Predefined(info)
	get := func(n string) string { v, _ := vars.Get(n); return v.Value }
	if get("CI_COMMIT_REF_SLUG") != "feature-login-page" || get("CI_COMMIT_SHORT_SHA") != "01234567" ||
		get("CI_COMMIT_BRANCH") != "feature/Login-Page" || get("CI_COMMIT_TITLE") != "Add login" || get("CI") != "true" {
		t.Errorf("predefined = %+v", vars)
	}
	mr := Predefined(mrFeat)
	if v, ok := mr.Get("CI_COMMIT_BRANCH"); ok {
		t.Errorf("merge request pipelines have no CI_COMMIT_BRANCH, got %q", v.Value)
	}
	if v, _ := mr.Get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"); v.Value != "feature" {
		t.Errorf("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME = %q", v.Value)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	p := plan(t, `
review:
  script: [x]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    url: https://$CI_ENVIRONMENT_SLUG.example.com
`, pushFeat)
	vars := p.Job("review").Variables
	name, _ := vars.Get("CI_ENVIRONMENT_NAME")
	tier, _ := vars.Get("CI_ENVIRONMENT_TIER")
	url, _ := vars.Get("CI_ENVIRONMENT_URL")
	envSlug, _ := vars.Get("CI_ENVIRONMENT_SLUG")
	if url.Value != "https://"+envSlug.Value+".example.com" || envSlug.Value == "" {
		t.Errorf("CI_ENVIRONMENT_URL = %q, want the slug expanded", url.Value)
	}
	if name.Value != "review/feature-login-page" || tier.Value != "development" {
		t.Errorf("environment variables = %+v", vars)
	}
}

func TestDelayedStartIn(t *testing.T) {
	p := plan(t, "job:\n  script: [x]\n  when: delayed\n  start_in: 2 seconds\n", pushMain)
	if j := p.Job("job"); j.When != Delayed || j.StartIn != 2*time.Second {
		t.Errorf("job = %+v", j)
	}
}

// The security review's 400-byte pipeline file whose variables expand to
// 100 MB: loading (and so `slipway lint`) refuses it with the position of
// the variable that grows past expand.MaxValue, once, without building the
// value.
func TestLoadRefusesVariablesThatExpandPastTheLimit(t *testing.T) {
	yml := "variables:\n  A: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	prev := "A"
	for _, name := range []string{"B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"} {
		yml += "  " + name + ": $" + prev + "$" + prev + "$" + prev + "$" + prev + "\n"
		prev = name
	}
	yml += "job:\n  script: [echo $L]\n  rules:\n    - if: $L == \"x\"\nother:\n  script: [echo]\n"
	if len(yml) > 400 {
		t.Fatalf("the file is %d bytes", len(yml))
	}
	err := loadErr(t, map[string]string{".gitlab-ci.yml": yml})
	// G is 64*4^6 bytes.
	if want := ".gitlab-ci.yml:8:3: variable G expands to more than 128 KiB; nested references of this size are refused"; !strings.HasSuffix(err, want) || strings.Count(err, "variable G") != 1 {
		t.Fatalf("err %v, want %q once", err, want)
	}
}

// A value given for the run (--variable, the API) is known only when
// planning: the plan refuses the variable of the file it makes too long,
// once, at that variable's position alone (not prefixed by each job's).
func TestPlanRefusesVariablesThatExpandPastTheLimit(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": "variables:\n  A: $BIG\n  B: $A$A$A$A$A\njob:\n  script: [echo $B]\nother:\n  script: [echo]\n"})
	big := Variables{{Name: "BIG", Value: strings.Repeat("x", 32<<10)}}
	_, err := NewPlan(cfg, Context{Predefined: Predefined(pushMain), Run: big})
	want := ".gitlab-ci.yml:3:3: variable B expands to more than 128 KiB; nested references of this size are refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// GitLab sets CI_JOB_MANUAL for every manual job, those a rule makes
// manual too, and for no other.
func TestCIJobManualForRuleManualJobs(t *testing.T) {
	p := plan(t, `
ruled:
  script: [x]
  rules:
    - when: manual
declared:
  script: [x]
  when: manual
automatic:
  script: [x]
  rules:
    - when: on_success
`, pushMain)
	for _, j := range p.Jobs {
		v, ok := j.Variables.Get("CI_JOB_MANUAL")
		if want := j.Name != "automatic"; ok != want || (ok && v.Value != "true") {
			t.Errorf("%s: CI_JOB_MANUAL = %q (set %v), want set: %v", j.Name, v.Value, ok, want)
		}
	}
}
