// Package jenkinstest runs Jenkinsfiles in tests with a small Groovy
// harness (testdata/jenkins-harness.groovy) that carries out the part of
// Jenkins' declarative DSL that internal/convert writes. The harness is a
// test double for Jenkins, not Jenkins; the groovy it runs on is real.
package jenkinstest

import (
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed testdata/jenkins-harness.groovy
var harness []byte

// Event is one line the harness reports.
type Event struct {
	Event    string   `json:"event"` // stage, skip, sh, archive, junit, stash, unstash, lock, input, end, build, pull, withRun, stop, inside
	Stage    string   `json:"stage"`
	Label    string   `json:"label"` // of an sh step: script or after_script
	Image    string   `json:"image"`
	ExitCode int      `json:"exitCode"`
	Output   string   `json:"output"`
	Files    []string `json:"files"`
	Result   string   `json:"result"`
	Reason   string   `json:"reason"`
	Name     string   `json:"name"`    // of a stash, unstash or lock; the container of withRun and stop
	Args     string   `json:"args"`    // docker run arguments of withRun and inside
	Command  string   `json:"command"` // of withRun
	Message  string   `json:"message"` // of an input
	Approved bool     `json:"approved"`
}

// Run is what one run of a Jenkinsfile did.
type Run struct {
	Events []Event
	Result string // the build's: SUCCESS, UNSTABLE, FAILURE, ABORTED
}

// Ran returns the stages whose steps ran, in order.
func (r Run) Ran() []string {
	var out []string
	for _, e := range r.Events {
		if e.Event == "stage" {
			out = append(out, e.Stage)
		}
	}
	return out
}

// Output is the combined output of a stage's sh steps with label.
func (r Run) Output(stage, label string) string {
	var b strings.Builder
	for _, e := range r.Events {
		if e.Event == "sh" && e.Stage == stage && e.Label == label {
			b.WriteString(e.Output)
		}
	}
	return b.String()
}

// Find returns the events of one kind for a stage.
func (r Run) Find(kind, stage string) []Event {
	var out []Event
	for _, e := range r.Events {
		if e.Event == kind && e.Stage == stage {
			out = append(out, e)
		}
	}
	return out
}

func groovy(t testing.TB) (groovyPath, harnessPath string) {
	t.Helper()
	g, err := exec.LookPath("groovy")
	if err != nil {
		t.Fatal("groovy is not installed (scripts/setup.sh installs it): ", err)
	}
	p := filepath.Join(t.TempDir(), "jenkins-harness.groovy")
	if err := os.WriteFile(p, harness, 0o644); err != nil {
		t.Fatal(err)
	}
	return g, p
}

// Compile fails the test unless groovy compiles every Jenkinsfile (one JVM
// for all of them).
func Compile(t testing.TB, jenkinsfiles map[string]string) {
	t.Helper()
	g, h := groovy(t)
	dir := t.TempDir()
	args := []string{h, "check"}
	for name, text := range jenkinsfiles {
		p := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".Jenkinsfile")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(g, args...).CombinedOutput(); err != nil {
		t.Fatalf("groovy does not compile the Jenkinsfiles: %v\n%s", err, out)
	}
}

// Execute runs jenkinsfile in workspace with the given environment
// (BRANCH_NAME, TAG_NAME, CHANGE_ID, GIT_COMMIT as Jenkins sets them;
// HARNESS_APPROVE lists the stages whose input is approved).
func Execute(t testing.TB, jenkinsfile, workspace string, env ...string) Run {
	t.Helper()
	return ExecuteCheckout(t, jenkinsfile, workspace, "", env...)
}

// ExecuteCheckout is Execute where `checkout scm` copies the files of the
// folder scm.
func ExecuteCheckout(t testing.TB, jenkinsfile, workspace, scm string, env ...string) Run {
	t.Helper()
	g, h := groovy(t)
	p := filepath.Join(t.TempDir(), "Jenkinsfile")
	if err := os.WriteFile(p, []byte(jenkinsfile), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{h, "run", p, workspace}
	if scm != "" {
		args = append(args, scm)
	}
	cmd := exec.Command(g, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the harness failed: %v\n%s\n%s\nJenkinsfile:\n%s", err, out, stderr.String(), jenkinsfile)
	}
	var run Run
	for _, line := range strings.Split(string(out), "\n") {
		data, ok := strings.CutPrefix(line, "@@ ")
		if !ok {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("harness event %q: %v", data, err)
		}
		run.Events = append(run.Events, e)
		if e.Event == "build" {
			run.Result = e.Result
		}
	}
	if run.Result == "" {
		t.Fatalf("the harness reported no build result:\n%s\n%s", out, stderr.String())
	}
	return run
}

// Groovy runs a Groovy script and returns its standard output.
func Groovy(t testing.TB, script string) string {
	t.Helper()
	g, _ := groovy(t)
	p := filepath.Join(t.TempDir(), "script.groovy")
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(g, p)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groovy: %v\n%s\nscript:\n%s", err, stderr.String(), script)
	}
	return string(out)
}
