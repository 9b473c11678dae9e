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
	engine := []string{"Uploaded artifacts", "Job succeeded", "=== ", "Restoring artifacts", "ERROR: Job failed", "WARNING: "}
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

// TestConvertJenkinsRunsAsSlipwayRun converts a pipeline, runs the
// Jenkinsfile under the Groovy harness and checks that the same jobs ran,
// stage after stage, with the same output as slipway run gives.
func TestConvertJenkinsRunsAsSlipwayRun(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{
		".gitlab-ci.yml": strings.ReplaceAll(mavenish, "BACKTICK", "`"),
		"mvnw.sh":        mvnw,
	})
	jenkinsfile := filepath.Join(t.TempDir(), "Jenkinsfile")
	out, errOut, code := slipway(t, dir, "convert", "jenkins", "-o", jenkinsfile, "--strict")
	if code != 0 {
		t.Fatalf("convert: exit %d\n%s\n%s", code, out, errOut)
	}
	text, err := os.ReadFile(jenkinsfile)
	if err != nil {
		t.Fatal(err)
	}
	jenkinstest.Compile(t, map[string]string{"mavenish": string(text)})

	reportPath := filepath.Join(t.TempDir(), "report.json")
	out, errOut, code = slipway(t, dir, "run", "--executor", "shell", "--manual", "deploy", "--variable", "DEPLOY_TARGET=production", "--report", reportPath)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	gitlabScript, gitlabAfter := gitlabLog(out)
	report := readReport(t, reportPath)

	// The harness works in a fresh checkout, as Jenkins does.
	workspace := t.TempDir()
	testenv.Git(t, workspace, "clone", "-q", dir, ".")
	sha := testenv.Git(t, dir, "rev-parse", "HEAD")
	run := jenkinstest.Execute(t, string(text), workspace, "BRANCH_NAME=main", "GIT_COMMIT="+sha, "HARNESS_APPROVE=deploy", "HARNESS_PARAM_DEPLOY_TARGET=production")

	stageOf := map[string]string{}
	var gitlabRan []string
	for _, j := range report.Jobs {
		stageOf[j.Name] = j.Stage
		if j.Status == "success" || j.Status == "failed" {
			gitlabRan = append(gitlabRan, j.Name)
		}
	}
	jenkinsRan := run.Ran()
	if got, want := sorted(jenkinsRan), sorted(gitlabRan); !slices.Equal(got, want) {
		t.Fatalf("Jenkins ran %q, slipway run %q", got, want)
	}
	stages := []string{"build", "test", "package", "deploy"}
	for i := 1; i < len(jenkinsRan); i++ {
		if slices.Index(stages, stageOf[jenkinsRan[i]]) < slices.Index(stages, stageOf[jenkinsRan[i-1]]) {
			t.Errorf("Jenkins ran %s (stage %s) after %s", jenkinsRan[i], stageOf[jenkinsRan[i]], jenkinsRan[i-1])
		}
	}
	for _, job := range gitlabRan {
		if got, want := run.Output(job, "script"), gitlabScript[job]; got != want {
			t.Errorf("job %s: Jenkins printed\n%s\nslipway run printed\n%s", job, got, want)
		}
		if got, want := run.Output(job, "after_script"), gitlabAfter[job]; got != want {
			t.Errorf("job %s after_script: Jenkins printed\n%s\nslipway run printed\n%s", job, got, want)
		}
	}
	if got, want := gitlabAfter["lint"]+gitlabAfter["quoting"], "$ echo \"lint $CI_JOB_STATUS\"\nlint failed\n"+
		"$ echo \"after_script of $APP: $CI_JOB_STATUS\"\nafter_script of demo: success\n"; got != want {
		t.Errorf("after_script printed %q, want %q", got, want)
	}
	if want := "deploying demo-1.0.jar to production\n"; !strings.HasSuffix(gitlabScript["deploy"], want) {
		t.Errorf("deploy printed %q, want it to end with %q (the value given for the run)", gitlabScript["deploy"], want)
	}
	if want := "build (build) of main at " + sha[:8] + "\n"; !strings.HasSuffix(gitlabScript["build"], want) {
		t.Errorf("build printed %q, want it to end with %q", gitlabScript["build"], want)
	}
	if !strings.Contains(gitlabScript["quoting"], "heredoc: $APP ${APP} `backticks` \\n \\t '''") {
		t.Errorf("the quoting job did not print its heredoc as written:\n%s", gitlabScript["quoting"])
	}

	// Results: the allowed failure leaves the build successful.
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
