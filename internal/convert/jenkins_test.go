package convert

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/convert/jenkinstest"
)

func load(t *testing.T, yaml string) *ci.Config {
	t.Helper()
	cfg, err := ci.LoadBytes(".gitlab-ci.yml", []byte(yaml), ci.LoadOptions{ProjectDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tricky are strings Groovy must hand over byte for byte.
var tricky = []string{
	`plain`,
	`it's`,
	`'`,
	`''`,
	`'''`,
	`""" and '''`,
	`ends with a quote'`,
	"two\nlines'",
	"multi\nline ''' block\n",
	`back\slash \\ and \n and \u0041 and \'`,
	`trailing backslash\`,
	"trailing backslash\\\nin a block\\",
	`$VAR ${VAR} $$ ${env.HOME} "${x}" $/slashy/$`,
	"tab\tcarriage\r\nreturn\x01bell",
	"unicode: é ✓ 💡",
}

func TestQuoteKeepsEveryByte(t *testing.T) {
	var script strings.Builder
	for _, s := range tricky {
		fmt.Fprintf(&script, "println %s.getBytes('UTF-8').encodeHex().toString()\n", quote(s))
	}
	got := strings.Split(strings.TrimSpace(jenkinstest.Groovy(t, script.String())), "\n")
	if len(got) != len(tricky) {
		t.Fatalf("groovy printed %d lines for %d strings:\n%s", len(got), len(tricky), got)
	}
	for i, s := range tricky {
		if want := hex.EncodeToString([]byte(s)); got[i] != want {
			t.Errorf("%q is written %s; groovy reads it as %q", s, quote(s), mustHex(got[i]))
		}
	}
}

func mustHex(s string) string {
	b, _ := hex.DecodeString(s)
	return string(b)
}

// maven is the seed's flavour: build, test, package and a manual deploy.
const maven = `
image: maven:3.9-eclipse-temurin-17
stages: [build, test, package, deploy]
variables:
  MAVEN_OPTS: "-Dmaven.repo.local=.m2/repository"
  MAVEN_CLI_OPTS: "--batch-mode $MAVEN_OPTS"
  DEPLOY_TARGET:
    value: production
    description: "Where the jar goes"
build:
  stage: build
  script: mvn $MAVEN_CLI_OPTS compile
unit tests:
  stage: test
  script: mvn $MAVEN_CLI_OPTS test
  retry: 2
  timeout: 10m
  artifacts:
    when: always
    reports:
      junit: target/surefire-reports/TEST-*.xml
lint:
  stage: test
  script: mvn checkstyle:check
  allow_failure: true
package:
  stage: package
  script: mvn $MAVEN_CLI_OPTS package -DskipTests
  artifacts:
    paths: [target/*.jar]
    exclude: [target/*-sources.jar]
deploy:
  stage: deploy
  image:
    name: alpine:3
    entrypoint: [""]
    pull_policy: [always, if-not-present]
  variables:
    TARGET: production
  script:
    - echo "deploying to $TARGET"
  after_script: [echo done]
  when: manual
  only: [main]
`

func TestMavenPipelineStructure(t *testing.T) {
	out, warnings := Jenkins(load(t, maven))
	if len(warnings) != 0 {
		t.Errorf("warnings for a pipeline with a faithful translation: %v", warnings)
	}
	stages := regexp.MustCompile(`(?m)^ *stage\('([^']*)'\)`).FindAllStringSubmatch(out, -1)
	var names []string
	for _, m := range stages {
		names = append(names, m[1])
	}
	want := []string{"build", "test", "unit tests", "lint", "package", "deploy"}
	if !slices.Equal(names, want) {
		t.Errorf("stages = %q, want %q", names, want)
	}
	for _, want := range []string{
		"agent none",
		"skipDefaultCheckout()",
		"agent { docker { image 'maven:3.9-eclipse-temurin-17' } }",
		"agent { docker { image 'alpine:3'; args '--entrypoint='; alwaysPull true } }",
		`MAVEN_CLI_OPTS = '--batch-mode ' + "${env.MAVEN_OPTS ?: ''}"`,
		"TARGET = 'production'",
		"string(name: 'DEPLOY_TARGET', defaultValue: 'production', description: 'Where the jar goes')",
		"parallel {",
		"retry(3) {",
		"timeout(time: 600, unit: 'SECONDS') {",
		"junit testResults: 'target/surefire-reports/TEST-*.xml', allowEmptyResults: true",
		"catchError(buildResult: 'SUCCESS', stageResult: 'UNSTABLE') {",
		"archiveArtifacts artifacts: 'target/*.jar', excludes: 'target/*-sources.jar', allowEmptyArchive: true",
		"stash(name: 'artifacts-4', includes: 'target/*.jar', excludes: 'target/*-sources.jar', allowEmpty: true)",
		"input { message 'Run job deploy?'; ok 'Run' }",
		"branch 'main'",
		"beforeInput true",
		"sh label: 'after_script'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Jenkinsfile lacks %q:\n%s", want, out)
		}
	}
	// The junit report is kept whatever the result (artifacts:when: always).
	if !regexp.MustCompile(`always \{\n\s*dir\('ci-jobs/unit-tests'\) \{\n\s*junit `).MatchString(out) {
		t.Errorf("junit is not under post { always }:\n%s", out)
	}
	if strings.Contains(out, "DEPLOY_TARGET = ") {
		t.Errorf("a parameter set again in environment would hide the value given for the build:\n%s", out)
	}
	if strings.Contains(out, "resultIsBetterOrEqualTo") {
		t.Errorf("a pipeline without on_failure or always jobs should stop at a failure as Jenkins does:\n%s", out)
	}
	jenkinstest.Compile(t, map[string]string{"maven": out})
}

func TestWarningsNameFileLineAndJob(t *testing.T) {
	cfg := load(t, `stages: [build, test]
build:
  stage: build
  script: [make]
  cache:
    paths: [vendor/]
  services: [postgres:16]
test:
  stage: test
  needs: [build]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
  rules:
    - changes: [src/**]
  script:
    - make test "$CI_REGISTRY_IMAGE:${CI_COMMIT_SHA}"
nightly:
  script: [make nightly]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
    - if: $CI_PIPELINE_SOURCE == "schedule"
`)
	out, warnings := Jenkins(cfg)
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		".gitlab-ci.yml:2:1: job build: services: the job has no image",
		".gitlab-ci.yml:2:1: job build: cache: not translated",
		".gitlab-ci.yml:8:1: job test: uses $CI_REGISTRY_IMAGE: GitLab predefined variables that Jenkins does not set",
		".gitlab-ci.yml:10:11: job test: needs: build: Jenkins has no job graph",
		".gitlab-ci.yml:12:5: job test: environment: review/$CI_COMMIT_REF_SLUG: Jenkins has no environments",
		".gitlab-ci.yml:14:7: job test: rules[0]: changes: not translated",
		".gitlab-ci.yml:21:11: job nightly: rules[1]: if: $CI_PIPELINE_SOURCE is a GitLab predefined variable that Jenkins does not set",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings = %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
	// No job is dropped, whatever the warnings.
	for _, job := range []string{"stage('build')", "stage('test')", "stage('nightly')"} {
		if !strings.Contains(out, job) {
			t.Errorf("Jenkinsfile lacks %s:\n%s", job, out)
		}
	}
}

func TestMatrixAndParallelBecomeStages(t *testing.T) {
	out, _ := Jenkins(load(t, `
deploy:
  stage: deploy
  script: [echo "$CLOUD $REGION $CI_NODE_INDEX/$CI_NODE_TOTAL"]
  parallel:
    matrix:
      - CLOUD: aws
        REGION: [eu, us]
      - CLOUD: gcp
        REGION: asia
shard:
  script: [echo "$CI_NODE_INDEX of $CI_NODE_TOTAL"]
  parallel: 2
`))
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	want := []string{"shard 1/2", "shard 2/2", "deploy: [aws, eu]", "deploy: [aws, us]", "deploy: [gcp, asia]"}
	if got := run.Ran(); !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q\n%s", got, want, out)
	}
	if got := run.Output("deploy: [aws, us]", "script"); !strings.Contains(got, "\naws us 2/3\n") {
		t.Errorf("deploy: [aws, us] printed %q", got)
	}
	if got := run.Output("shard 2/2", "script"); !strings.Contains(got, "\n2 of 2\n") {
		t.Errorf("shard 2/2 printed %q", got)
	}
}

// conditions has one job per kind of condition the converter translates.
const conditions = `
stages: [build, test, deploy, cleanup]
variables:
  MODE: fast
build:
  stage: build
  script: ["test \"$BRANCH_NAME\" != broken"]
only-main:
  stage: test
  script: [echo]
  only: [main]
except-main:
  stage: test
  script: [echo]
  except: [main]
release-regex:
  stage: test
  script: [echo]
  only: ['/^release-\d+$/']
tags-only:
  stage: test
  script: [echo]
  only: [tags]
rules-first-match:
  stage: test
  script: [echo]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: never
    - if: $CI_COMMIT_REF_NAME =~ /^feature\// && $MODE == "fast"
    - if: $CI_COMMIT_TAG
rules-branch:
  stage: test
  script: [echo]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
variables-only:
  stage: test
  script: [echo]
  only:
    variables: ['$MODE == "slow"', '$CI_COMMIT_REF_NAME !~ /^feature/i']
never:
  stage: test
  script: [echo never]
  when: never
on-failure:
  stage: deploy
  script: [echo cleaning after a failure]
  when: on_failure
always:
  stage: cleanup
  script: [echo always]
  when: always
deploy:
  stage: deploy
  script: [echo deploy]
`

// TestConditionsMatchGitLabRules runs the Jenkinsfile for several refs
// and checks that the stages that ran are the jobs internal/ci plans for
// the same ref, with GitLab's rules.
func TestConditionsMatchGitLabRules(t *testing.T) {
	cfg := load(t, conditions)
	out, warnings := Jenkins(cfg)
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	jenkinstest.Compile(t, map[string]string{"conditions": out})
	for _, tc := range []struct {
		name string
		info ci.PipelineInfo
		env  []string
		fail bool // the build job fails on branch broken
	}{
		{name: "main", info: ci.PipelineInfo{Branch: "main"}, env: []string{"BRANCH_NAME=main"}},
		{name: "feature", info: ci.PipelineInfo{Branch: "feature/x"}, env: []string{"BRANCH_NAME=feature/x"}},
		{name: "release", info: ci.PipelineInfo{Branch: "release-12"}, env: []string{"BRANCH_NAME=release-12"}},
		{name: "tag", info: ci.PipelineInfo{Tag: "v1.0"}, env: []string{"BRANCH_NAME=v1.0", "TAG_NAME=v1.0"}},
		{name: "failure", info: ci.PipelineInfo{Branch: "broken"}, env: []string{"BRANCH_NAME=broken"}, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.info.Source = "push"
			tc.info.SHA = strings.Repeat("a", 40)
			plan, err := ci.NewPlan(cfg, ci.Context{Predefined: ci.Predefined(tc.info)})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, j := range plan.Jobs {
				switch {
				case tc.fail && j.When == ci.OnSuccess && j.StageIndex > plan.Job("build").StageIndex:
				case !tc.fail && j.When == ci.OnFailure:
				default:
					want = append(want, j.Name)
				}
			}
			run := jenkinstest.Execute(t, out, t.TempDir(), tc.env...)
			got := run.Ran()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Jenkins ran %q; GitLab plans %q", got, want)
			}
			if wantResult := map[bool]string{false: "SUCCESS", true: "FAILURE"}[tc.fail]; run.Result != wantResult {
				t.Errorf("build result %s, want %s", run.Result, wantResult)
			}
		})
	}
}

// TestGitLabTemplatesCompile converts GitLab's own CI templates and has
// groovy compile every Jenkinsfile.
func TestGitLabTemplatesCompile(t *testing.T) {
	dir := filepath.Join("..", "ci", "testdata", "templates")
	files, err := filepath.Glob(filepath.Join(dir, "*.gitlab-ci.yml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("templates: %v (%d files)", err, len(files))
	}
	out := map[string]string{}
	for _, f := range files {
		cfg, err := ci.Load(f, ci.LoadOptions{ProjectDir: dir, TemplateDir: dir})
		if err != nil {
			continue // templates using what internal/ci does not support
		}
		text, _ := Jenkins(cfg)
		out[filepath.Base(f)] = text
	}
	if len(out) < 10 {
		t.Fatalf("only %d templates loaded", len(out))
	}
	jenkinstest.Compile(t, out)
}

func TestInterruptible(t *testing.T) {
	out, warnings := Jenkins(load(t, `
default:
  interruptible: true
build:
  script: [make]
test:
  script: [make test]
`))
	if len(warnings) != 0 || !strings.Contains(out, "disableConcurrentBuilds(abortPrevious: true)") {
		t.Errorf("all jobs interruptible: warnings %v, Jenkinsfile:\n%s", warnings, out)
	}
	jenkinstest.Compile(t, map[string]string{"interruptible": out})
	out, warnings = Jenkins(load(t, `
build:
  script: [make]
  interruptible: true
deploy:
  script: [make deploy]
`))
	if len(warnings) != 1 || !strings.Contains(warnings[0].Msg, "interruptible") || strings.Contains(out, "abortPrevious") {
		t.Errorf("one job interruptible: warnings %v, Jenkinsfile:\n%s", warnings, out)
	}
}

func TestNamesWithQuotesStayExact(t *testing.T) {
	out, _ := Jenkins(load(t, `
stages: ["it's \"built\""]
"job 'one' \\ $HOME":
  stage: "it's \"built\""
  script: [echo "$CI_JOB_NAME" "$CI_JOB_STAGE"]
  when: manual
"job two":
  stage: "it's \"built\""
  script: [echo two]
`))
	name := `job 'one' \ $HOME`
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main", "HARNESS_APPROVE="+name)
	if got, want := run.Ran(), []string{name, "job two"}; !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q\n%s", got, want, out)
	}
	if got, want := run.Output(name, "script"), name+` it's "built"`+"\n"; !strings.HasSuffix(got, want) {
		t.Errorf("printed %q, want it to end with %q", got, want)
	}
	if !strings.Contains(out, `stage('it\'s "built"')`) {
		t.Errorf("the stage's name is not quoted:\n%s", out)
	}
}

func TestArtifactsAndAfterScriptFollowTheJobsResult(t *testing.T) {
	out, _ := Jenkins(load(t, `
failing:
  script:
    - mkdir -p out/logs && echo log > out/logs/a.txt && echo kept > out.txt
    - exit 4
  after_script:
    - echo "after a failure"
    - exit 9
  allow_failure: true
  artifacts:
    when: on_failure
    paths: [out, out.txt]
passing:
  script: [echo ok > ok.txt]
  artifacts:
    when: on_failure
    paths: [ok.txt]
`))
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if a := run.Find("archive", "failing"); len(a) != 1 || !slices.Equal(a[0].Files, []string{"out.txt", "out/logs/a.txt"}) {
		t.Errorf("failing archived %+v, want out.txt and out/logs/a.txt", a)
	}
	if a := run.Find("archive", "passing"); len(a) != 0 {
		t.Errorf("passing archived %+v although artifacts are only for failures", a)
	}
	if got := run.Output("failing", "after_script"); !strings.Contains(got, "after a failure\n") {
		t.Errorf("after_script printed %q", got)
	}
	if ends := run.Find("end", "failing"); len(ends) != 1 || ends[0].Result != "UNSTABLE" {
		t.Errorf("failing ended %+v, want UNSTABLE (an allowed failure; after_script's own failure changes nothing)", ends)
	}
	if run.Result != "SUCCESS" {
		t.Errorf("build result %s, want SUCCESS", run.Result)
	}
}

func TestRetryTimeoutAndDelay(t *testing.T) {
	out, warnings := Jenkins(load(t, `
flaky:
  script:
    - n=$(cat attempts 2>/dev/null || echo 0); echo $((n + 1)) > attempts
    - test "$(cat attempts)" -ge 2
  retry: 2
slow:
  stage: deploy
  script: [sleep 60]
  timeout: 2s
  when: always
delayed:
  stage: deploy
  script: [echo late]
  when: delayed
  start_in: 1 second
`))
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if sh := run.Find("sh", "flaky"); len(sh) != 2 || sh[0].ExitCode == 0 || sh[1].ExitCode != 0 {
		t.Errorf("flaky ran %+v, want a failed attempt then a passing one", sh)
	}
	if ends := run.Find("end", "slow"); len(ends) != 1 || ends[0].Result != "FAILURE" {
		t.Errorf("slow ended %+v, want FAILURE after its 2s timeout", ends)
	}
	if got := run.Output("delayed", "script"); !strings.HasSuffix(got, "late\n") {
		t.Errorf("delayed printed %q", got)
	}
	if run.Result != "FAILURE" {
		t.Errorf("build result %s, want FAILURE", run.Result)
	}
}

func TestAFailedJobLetsItsStageFinishAndStopsLaterStages(t *testing.T) {
	out, _ := Jenkins(load(t, `
a:
  script: [exit 1]
b:
  script: [echo b]
c:
  stage: deploy
  script: [echo c]
`))
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got, want := run.Ran(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
	if run.Result != "FAILURE" {
		t.Errorf("build result %s, want FAILURE", run.Result)
	}
}

func TestStageNamesStayUnique(t *testing.T) {
	out, _ := Jenkins(load(t, `
stages: [test, deploy]
test:
  stage: test
  script: [echo test]
lint:
  stage: test
  script: [echo lint]
deploy:
  stage: deploy
  script: [echo deploy]
`))
	// The harness refuses a stage name used twice, as Jenkins does.
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got, want := run.Ran(), []string{"test", "lint", "deploy"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q\n%s", got, want, out)
	}
	if !strings.Contains(out, "stage('stage test') {\n") {
		t.Errorf("the GitLab stage test is not renamed:\n%s", out)
	}
}

func TestVariablesNamedLikeClasses(t *testing.T) {
	out, _ := Jenkins(load(t, `
variables:
  URL: "https://example.test/$PROJECT"
show:
  variables:
    PROJECT: slipway
  script: [echo "$URL"]
`))
	if strings.Contains(out, "environment {\n        }") || strings.Contains(out, "URL = ") {
		t.Errorf("URL must not be set in an environment block:\n%s", out)
	}
	run := jenkinstest.Execute(t, out, t.TempDir(), "BRANCH_NAME=main")
	if got := run.Output("show", "script"); !strings.HasSuffix(got, "\nhttps://example.test/slipway\n") {
		t.Errorf("show printed %q\n%s", got, out)
	}
}

// A stage name written in a comment cannot end the comment: Groovy ends a
// line at a CR too, and what followed would run as Jenkinsfile code.
func TestStageNameCannotEscapeItsComment(t *testing.T) {
	cfg := load(t, "stages: [\"build\\r}}\\rprintln('injected')\\u2028x\", test]\n"+
		"compile:\n  stage: \"build\\r}}\\rprintln('injected')\\u2028x\"\n  script: [echo]\n")
	out, _ := Jenkins(cfg)
	for _, sep := range []string{"\r", "\u2028", "\u2029", "\u0085"} {
		if strings.Contains(out, sep) {
			t.Errorf("the Jenkinsfile has a raw %q:\n%s", sep, out)
		}
	}
	jenkinstest.Compile(t, map[string]string{"comment": out})
}
