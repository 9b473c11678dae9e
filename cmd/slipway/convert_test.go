package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/convert/jenkinstest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// mavenish is the seed's pipeline: build, test, package and a manual
// deploy, with a stand-in for Maven, artifacts, a JUnit report and a job
// whose script is full of quoting traps.
const mavenish = `
stages: [build, test, package, deploy]
variables:
  APP: demo
  GREETING: "hello $APP"
  URL: "https://example.test/${APP}/"
  LITERAL:
    value: "$APP stays as written"
    expand: false
  DEPLOY_TARGET:
    value: staging
    description: "Where deploy puts the jar"
build:
  stage: build
  before_script:
    - echo "preparing $APP"
  script:
    - ./mvnw.sh compile
    - echo "$GREETING at $URL; $LITERAL"
    - echo "$CI_JOB_NAME ($CI_JOB_STAGE) of ${CI_COMMIT_REF_NAME} at $CI_COMMIT_SHORT_SHA"
test:
  stage: test
  script:
    - ./mvnw.sh test
  artifacts:
    when: always
    reports:
      junit: target/surefire-reports/TEST-*.xml
quoting:
  stage: test
  variables:
    QUOTED: "it's \"quoted\" \\ $$APP"
  script:
    - echo 'single "double" $NOT_EXPANDED' "double 'single' $APP"
    - printf '%s|%s|%s\n' "back\\slash" "''' triple '''" '""" triple """'
    - |
      cat <<'EOF'
      heredoc: $APP ${APP} BACKTICKbackticksBACKTICK \n \t '''
      EOF
    - echo "${APP}-${GREETING}" $((1 + 2)) "$QUOTED"
    - 'printf "%s\n" "ends with a quote''"'
    - printf '%s\n' "tab	inside"
  after_script:
    - 'echo "after_script of $APP: $CI_JOB_STATUS"'
lint:
  stage: test
  script:
    - echo linting
    - exit 3
    - echo never
  after_script:
    - echo "lint $CI_JOB_STATUS"
  allow_failure: true
package:
  stage: package
  script:
    - ./mvnw.sh package
  artifacts:
    paths: [target/*.jar]
deploy:
  stage: deploy
  script:
    - test -f "target/$APP-1.0.jar" && echo "deploying $APP-1.0.jar to $DEPLOY_TARGET"
  when: manual
`

const mvnw = `#!/bin/sh
# A stand-in for Maven: what each phase leaves in target/.
set -e
mkdir -p target
case "$1" in
compile) echo "[INFO] Compiling $APP"; mkdir -p target/classes; echo class > target/classes/App.class ;;
test)
  mkdir -p target/surefire-reports
  echo '<testsuite name="AppTest" tests="1" failures="0"><testcase name="ok"/></testsuite>' > target/surefire-reports/TEST-AppTest.xml
  echo "Tests run: 1, Failures: 0" ;;
package) echo jar > "target/$APP-1.0.jar"; echo "[INFO] Building jar: target/$APP-1.0.jar" ;;
esac
`

// gitlabLog splits the output of slipway run into each job's script and
// after_script output, without the engine's own lines.
func gitlabLog(out string) (script, after map[string]string) {
	script, after = map[string]string{}, map[string]string{}
	inAfter := map[string]bool{}
	engine := []string{"Uploaded artifacts", "Job succeeded", "=== ", "Restoring artifacts", "ERROR: Job failed", "WARNING: ", "Retrying: ", "--- attempt "}
	for _, line := range strings.Split(out, "\n") {
		name, text, ok := strings.Cut(line, " | ")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		switch {
		case text == "Running after_script":
			inAfter[name] = true
		case slices.ContainsFunc(engine, func(p string) bool { return strings.HasPrefix(text, p) }):
		case inAfter[name]:
			after[name] += text + "\n"
		default:
			script[name] += text + "\n"
		}
	}
	return script, after
}

// comparison is a pipeline run both ways: by slipway run and, converted,
// under the Jenkins harness.
type comparison struct {
	gitlabScript, gitlabAfter map[string]string // each job's output
	runCode                   int               // slipway run's exit code
	sha                       string
	jenkins                   jenkinstest.Run
}

// compareWithRun converts the pipeline of a new repository holding files,
// runs it with slipway run (runArgs added) and under the harness (env
// added), and checks that the same jobs ran, stage after stage, with the
// same output.
func compareWithRun(t *testing.T, files map[string]string, runArgs, env []string) comparison {
	t.Helper()
	dir := testenv.GitRepo(t, files)
	jenkinsfile := filepath.Join(t.TempDir(), "Jenkinsfile")
	out, errOut, code := slipway(t, dir, "convert", "jenkins", "-o", jenkinsfile, "--strict")
	if code != 0 {
		t.Fatalf("convert: exit %d\n%s\n%s", code, out, errOut)
	}
	text, err := os.ReadFile(jenkinsfile)
	if err != nil {
		t.Fatal(err)
	}
	jenkinstest.Compile(t, map[string]string{"pipeline": string(text)})

	var c comparison
	reportPath := filepath.Join(t.TempDir(), "report.json")
	out, _, c.runCode = slipway(t, dir, append([]string{"run", "--executor", "shell", "--report", reportPath}, runArgs...)...)
	c.gitlabScript, c.gitlabAfter = gitlabLog(out)
	report := readReport(t, reportPath)

	// Each job checks out a fresh clone, as Jenkins does.
	clone := t.TempDir()
	testenv.Git(t, clone, "clone", "-q", dir, ".")
	c.sha = testenv.Git(t, dir, "rev-parse", "HEAD")
	c.jenkins = jenkinstest.ExecuteCheckout(t, string(text), t.TempDir(), clone, append([]string{"BRANCH_NAME=main", "GIT_COMMIT=" + c.sha}, env...)...)

	stageOf := map[string]string{}
	var stages, gitlabRan []string
	for _, j := range report.Jobs {
		stageOf[j.Name] = j.Stage
		if !slices.Contains(stages, j.Stage) {
			stages = append(stages, j.Stage) // the report lists jobs in stage order
		}
		if j.Status == "success" || j.Status == "failed" {
			gitlabRan = append(gitlabRan, j.Name)
		}
	}
	jenkinsRan := c.jenkins.Ran()
	if got, want := sorted(jenkinsRan), sorted(gitlabRan); !slices.Equal(got, want) {
		t.Fatalf("Jenkins ran %q, slipway run %q\n%s", got, want, out)
	}
	for i := 1; i < len(jenkinsRan); i++ {
		if slices.Index(stages, stageOf[jenkinsRan[i]]) < slices.Index(stages, stageOf[jenkinsRan[i-1]]) {
			t.Errorf("Jenkins ran %s (stage %s) after %s", jenkinsRan[i], stageOf[jenkinsRan[i]], jenkinsRan[i-1])
		}
	}
	for _, job := range gitlabRan {
		if got, want := c.jenkins.Output(job, "script"), c.gitlabScript[job]; got != want {
			t.Errorf("job %s: Jenkins printed\n%s\nslipway run printed\n%s", job, got, want)
		}
		if got, want := c.jenkins.Output(job, "after_script"), c.gitlabAfter[job]; got != want {
			t.Errorf("job %s after_script: Jenkins printed\n%s\nslipway run printed\n%s", job, got, want)
		}
	}
	return c
}

// TestConvertJenkinsRunsAsSlipwayRun runs the Maven-ish pipeline both ways.
func TestConvertJenkinsRunsAsSlipwayRun(t *testing.T) {
	c := compareWithRun(t, map[string]string{".gitlab-ci.yml": strings.ReplaceAll(mavenish, "BACKTICK", "`"), "mvnw.sh": mvnw},
		[]string{"--manual", "deploy", "--variable", "DEPLOY_TARGET=production"},
		[]string{"HARNESS_APPROVE=deploy", "HARNESS_PARAM_DEPLOY_TARGET=production"})
	if c.runCode != 0 {
		t.Fatalf("slipway run: exit %d", c.runCode)
	}
	if got, want := c.gitlabAfter["lint"]+c.gitlabAfter["quoting"], "$ echo \"lint $CI_JOB_STATUS\"\nlint failed\n"+
		"$ echo \"after_script of $APP: $CI_JOB_STATUS\"\nafter_script of demo: success\n"; got != want {
		t.Errorf("after_script printed %q, want %q", got, want)
	}
	if want := "deploying demo-1.0.jar to production\n"; !strings.HasSuffix(c.gitlabScript["deploy"], want) {
		t.Errorf("deploy printed %q, want it to end with %q (the value given for the run)", c.gitlabScript["deploy"], want)
	}
	if want := "build (build) of main at " + c.sha[:8] + "\n"; !strings.HasSuffix(c.gitlabScript["build"], want) {
		t.Errorf("build printed %q, want it to end with %q", c.gitlabScript["build"], want)
	}
	if !strings.Contains(c.gitlabScript["quoting"], "heredoc: $APP ${APP} `backticks` \\n \\t '''") {
		t.Errorf("the quoting job did not print its heredoc as written:\n%s", c.gitlabScript["quoting"])
	}

	// Results: the allowed failure leaves the build successful.
	run := c.jenkins
	if run.Result != "SUCCESS" {
		t.Errorf("Jenkins build result %s, want SUCCESS", run.Result)
	}
	if ends := run.Find("end", "lint"); len(ends) != 1 || ends[0].Result != "UNSTABLE" {
		t.Errorf("lint ended %+v, want UNSTABLE", ends)
	}
	if a := run.Find("archive", "package"); len(a) != 1 || !slices.Equal(a[0].Files, []string{"target/demo-1.0.jar"}) {
		t.Errorf("package archived %+v, want target/demo-1.0.jar", a)
	}
	if j := run.Find("junit", "test"); len(j) != 1 || !slices.Equal(j[0].Files, []string{"target/surefire-reports/TEST-AppTest.xml"}) {
		t.Errorf("test recorded JUnit reports %+v", j)
	}
}

// TestConvertJenkinsFailureRunsAsSlipwayRun runs a failing pipeline with
// on_failure and always jobs both ways.
func TestConvertJenkinsFailureRunsAsSlipwayRun(t *testing.T) {
	c := compareWithRun(t, map[string]string{".gitlab-ci.yml": `
stages: [build, test, report, cleanup]
compile:
  stage: build
  script:
    - echo "compiling"
    - 'false'
    - echo never
  after_script: ['echo "compile ended: $CI_JOB_STATUS"']
unit:
  stage: test
  script: [echo "not after a failure"]
notify:
  stage: report
  script: [echo "the build failed"]
  when: on_failure
cleanup:
  stage: cleanup
  script: [echo "cleaning up"]
  when: always
`}, nil, nil)
	if c.runCode != 1 {
		t.Errorf("slipway run: exit %d, want 1", c.runCode)
	}
	if c.jenkins.Result != "FAILURE" {
		t.Errorf("Jenkins build result %s, want FAILURE", c.jenkins.Result)
	}
	if got, want := c.jenkins.Ran(), []string{"compile", "notify", "cleanup"}; !slices.Equal(got, want) {
		t.Errorf("Jenkins ran %q, want %q", got, want)
	}
	if !strings.HasSuffix(c.gitlabAfter["compile"], "compile ended: failed\n") {
		t.Errorf("compile's after_script printed %q", c.gitlabAfter["compile"])
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestConvertJenkinsWarningsAndStrict(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": `
build:
  script: [make]
  cache:
    paths: [vendor/]
`})
	out, errOut, code := slipway(t, dir, "convert", "jenkins")
	if code != 0 {
		t.Fatalf("exit %d without --strict\n%s", code, errOut)
	}
	if !strings.Contains(out, "pipeline {") || !strings.Contains(out, "stage('build')") {
		t.Errorf("no Jenkinsfile on stdout:\n%s", out)
	}
	if want := "WARNING: .gitlab-ci.yml:2:1: job build: cache: not translated"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}

	jenkinsfile := filepath.Join(dir, "Jenkinsfile")
	_, errOut, code = slipway(t, dir, "convert", "jenkins", "--strict", "-o", jenkinsfile)
	if code != 2 || !strings.Contains(errOut, "cache: not translated") {
		t.Errorf("--strict: exit %d, want 2\n%s", code, errOut)
	}
	if _, err := os.Stat(jenkinsfile); !os.IsNotExist(err) {
		t.Errorf("--strict with warnings wrote the Jenkinsfile (stat: %v)", err)
	}

	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("build:\n  script: [make]\n  when: sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = slipway(t, dir, "convert", "jenkins", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yml:3:") {
		t.Errorf("invalid file: exit %d, want 1 with file:line:col\n%s", code, errOut)
	}
}

// TestConvertJenkinsAllowedExitCodes runs a job allowed to fail with one
// exit code, with a retry, both ways: once with that code, once with
// another.
func TestConvertJenkinsAllowedExitCodes(t *testing.T) {
	pipeline := `
stages: [test, deploy]
variables:
  CODE:
    value: "0"
    description: "the exit code of the check"
check:
  stage: test
  script:
    - echo "checking"
    - exit $CODE
  allow_failure:
    exit_codes: [3]
  retry: 1
deploy:
  stage: deploy
  script: [echo deployed]
`
	for _, tc := range []struct {
		code     string
		runCode  int
		result   string
		attempts int
	}{
		{code: "3", runCode: 0, result: "SUCCESS", attempts: 2},
		{code: "4", runCode: 1, result: "FAILURE", attempts: 2},
	} {
		t.Run("exit "+tc.code, func(t *testing.T) {
			c := compareWithRun(t, map[string]string{".gitlab-ci.yml": pipeline},
				[]string{"--variable", "CODE=" + tc.code}, []string{"HARNESS_PARAM_CODE=" + tc.code})
			if c.runCode != tc.runCode || c.jenkins.Result != tc.result {
				t.Errorf("slipway run exit %d, Jenkins %s; want %d and %s", c.runCode, c.jenkins.Result, tc.runCode, tc.result)
			}
			if sh := c.jenkins.Find("sh", "check"); len(sh) != tc.attempts {
				t.Errorf("Jenkins ran check %d times, want %d", len(sh), tc.attempts)
			}
		})
	}
}
