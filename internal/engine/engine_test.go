package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

func TestStagesRunInOrderWithTheirVariables(t *testing.T) {
	r := newRunner(t, map[string]string{"hello.txt": "from the commit\n"})
	p := plan([]string{"build", "test"},
		newJob("b1", "build", "sleep 0.2", "cat hello.txt", "echo changed > hello.txt"),
		newJob("b2", "build", "echo b2"),
		newJob("t1", "test", `cat hello.txt`, `echo "dir=$CI_PROJECT_DIR pwd=$(pwd) greet=$GREETING job=$CI_JOB_ID pipe=$CI_PIPELINE_ID"`),
	)
	p.Variables = ci.Variables{{Name: "WHO", Value: "world"}}
	p.Jobs[2].Variables = ci.Variables{{Name: "GREETING", Value: "hello ${WHO}"}}
	res := r.run(context.Background(), p)

	want(t, res, map[string]Status{"b1": Success, "b2": Success, "t1": Success})
	if res.Status != Success {
		t.Errorf("pipeline %s", res.Status)
	}
	if start, end := r.rec.first(JobStarted, "t1"), r.rec.first(JobFinished, "b1"); start.Before(end) {
		t.Errorf("test stage started (%s) before build finished (%s)", start, end)
	}
	log := r.rec.log("t1")
	if !strings.Contains(log, "$ cat hello.txt\nfrom the commit\n") {
		t.Errorf("t1 did not get a fresh copy of the commit:\n%s", log)
	}
	var dir, pwd string
	for _, f := range strings.Fields(log[strings.Index(log, "dir="):]) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "dir":
			dir = v
		case "pwd":
			pwd = v
		}
	}
	if dir == "" || dir != pwd {
		t.Errorf("CI_PROJECT_DIR %q, pwd %q", dir, pwd)
	}
	if !strings.Contains(log, "greet=hello world") || !strings.Contains(log, "pipe="+strconv.FormatInt(res.PipelineID, 10)) {
		t.Errorf("variables:\n%s", log)
	}
	ids := map[int64]bool{}
	for _, j := range res.Jobs {
		if j.JobID == 0 || ids[j.JobID] || j.JobID == res.PipelineID {
			t.Errorf("job IDs not unique: %+v", res.Jobs)
		}
		ids[j.JobID] = true
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("working copy %s still exists: %v", dir, err)
	}
}

func TestNeedsStartAsSoonAsTheirNeedsFinish(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"build", "test"},
		newJob("slow", "build", "sleep 1"),
		newJob("fast", "build", "true"),
		newJob("after-fast", "test", "true").needs("fast"),
		newJob("at-once", "test", "true").needs(),
		newJob("stage-bound", "test", "true"),
	)
	res := r.run(context.Background(), p)
	want(t, res, map[string]Status{"slow": Success, "after-fast": Success, "at-once": Success, "stage-bound": Success})
	slowEnd := r.rec.first(JobFinished, "slow")
	if r.rec.first(JobStarted, "after-fast").After(slowEnd) {
		t.Error("after-fast waited for slow, which it does not need")
	}
	if r.rec.first(JobStarted, "at-once").After(slowEnd) {
		t.Error("needs: [] job waited")
	}
	if r.rec.first(JobStarted, "stage-bound").Before(slowEnd) {
		t.Error("a job without needs started before the earlier stage finished")
	}
}

func TestFailureSkipsOnSuccessAndRunsOnFailureAndAlways(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"build", "test", "cleanup"},
		newJob("broken", "build", "echo building", "exit 2", "echo unreachable"),
		newJob("test", "test", "true"),
		newJob("notify", "test", "echo failure seen").when(ci.OnFailure),
		newJob("report", "cleanup", "true").when(ci.Always),
		newJob("deploy", "cleanup", "true"),
	)
	res := r.run(context.Background(), p)
	want(t, res, map[string]Status{"broken": Failed, "test": Skipped, "notify": Success, "report": Success, "deploy": Skipped})
	if res.Status != Failed {
		t.Errorf("pipeline %s, want failed", res.Status)
	}
	b := res.Job("broken")
	if b.ExitCode != 2 || b.FailureReason != ScriptFailure || b.AllowFailure {
		t.Errorf("broken: %+v", b)
	}
	if strings.Contains(r.rec.log("broken"), "unreachable") {
		t.Error("the script went on after a failing command")
	}
}

func TestOnFailureJobIsSkippedWithoutFailure(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a", "b"},
		newJob("ok", "a", "true"),
		newJob("notify", "b", "true").when(ci.OnFailure),
	))
	want(t, res, map[string]Status{"ok": Success, "notify": Skipped})
	if res.Status != Success {
		t.Errorf("pipeline %s", res.Status)
	}
}

func TestAllowedFailuresDoNotBlock(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a", "b"},
		newJob("flaky", "a", "exit 1").allowFailure(),
		newJob("code-3", "a", "exit 3").allowFailure(3, 4),
		newJob("next", "b", "true"),
	))
	want(t, res, map[string]Status{"flaky": Failed, "code-3": Failed, "next": Success})
	if res.Status != Success {
		t.Errorf("pipeline %s, want success", res.Status)
	}
	for _, n := range []string{"flaky", "code-3"} {
		if !res.Job(n).AllowFailure {
			t.Errorf("%s: allow_failure false", n)
		}
	}
}

func TestExitCodeOutsideAllowFailureExitCodesFails(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a", "b"},
		newJob("code-5", "a", "exit 5").allowFailure(3, 4),
		newJob("next", "b", "true"),
	))
	want(t, res, map[string]Status{"code-5": Failed, "next": Skipped})
	if j := res.Job("code-5"); j.AllowFailure || j.ExitCode != 5 || res.Status != Failed {
		t.Errorf("code-5 %+v, pipeline %s", j, res.Status)
	}
}

func TestManualJobs(t *testing.T) {
	t.Run("not blocking", func(t *testing.T) {
		r := newRunner(t, nil)
		res := r.run(context.Background(), plan([]string{"a", "b"},
			newJob("deploy", "a", "true").when(ci.Manual),
			newJob("after", "b", "true"),
			newJob("needs-deploy", "b", "true").needs("deploy"),
		))
		want(t, res, map[string]Status{"deploy": Manual, "after": Success, "needs-deploy": Skipped})
		if res.Status != Success || !res.Job("deploy").AllowFailure {
			t.Errorf("pipeline %s, deploy %+v", res.Status, res.Job("deploy"))
		}
	})
	t.Run("blocking", func(t *testing.T) {
		r := newRunner(t, nil)
		res := r.run(context.Background(), func() *ci.Plan {
			p := plan([]string{"a", "b", "c"},
				newJob("build", "a", "true"),
				newJob("gate", "b", "true").when(ci.Manual),
				newJob("ship", "c", "true"),
				newJob("cleanup", "c", "true").when(ci.Always),
			)
			p.Job("gate").AllowFailure = ci.AllowFailure{Set: true}
			return p
		}())
		want(t, res, map[string]Status{"build": Success, "gate": Manual, "ship": Skipped, "cleanup": Skipped})
		if res.Status != Manual {
			t.Errorf("pipeline %s, want manual (blocked)", res.Status)
		}
		if j := res.Job("ship"); j.FailureReason != "blocked" || !strings.Contains(j.Detail, `"gate"`) {
			t.Errorf("ship: %+v", j)
		}
	})
	t.Run("played", func(t *testing.T) {
		r := newRunner(t, nil)
		r.opts.Manual = []string{"gate"}
		p := plan([]string{"a", "b"},
			newJob("gate", "a", "echo played").when(ci.Manual),
			newJob("ship", "b", "true"),
		)
		p.Job("gate").AllowFailure = ci.AllowFailure{Set: true}
		res := r.run(context.Background(), p)
		want(t, res, map[string]Status{"gate": Success, "ship": Success})
		if res.Status != Success || !strings.Contains(r.rec.log("gate"), "played") {
			t.Errorf("pipeline %s", res.Status)
		}
	})
}

func TestRetry(t *testing.T) {
	// The counter lives outside the working copy, which each attempt gets
	// fresh: the marker file written inside must never be seen again.
	script := []string{
		`test ! -e marker || { echo "stale working copy"; exit 99; }`,
		`touch marker`,
		`n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"`,
		`[ "$n" -ge "$PASS_AT" ] || exit "$CODE"`,
	}
	cases := []struct {
		name         string
		retry        ci.Retry
		passAt, code int
		status       Status
		attempts     int
	}{
		{"max 2 then success", ci.Retry{Max: 2}, 3, 1, Success, 3},
		{"max 1 exhausted", ci.Retry{Max: 1}, 5, 1, Failed, 2},
		{"when does not match", ci.Retry{Max: 2, When: []string{"runner_system_failure"}}, 3, 1, Failed, 1},
		{"when script_failure", ci.Retry{Max: 2, When: []string{"script_failure"}}, 2, 1, Success, 2},
		{"exit code matches", ci.Retry{Max: 2, ExitCodes: []int{137}}, 2, 137, Success, 2},
		{"exit code does not match", ci.Retry{Max: 2, ExitCodes: []int{137}}, 2, 1, Failed, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRunner(t, nil)
			p := plan([]string{"test"}, newJob("flaky", "test", script...).def(func(d *ci.Job) { d.Retry = c.retry }))
			p.Jobs[0].Variables = ci.Variables{
				{Name: "COUNTER", Value: filepath.Join(t.TempDir(), "n")},
				{Name: "PASS_AT", Value: strconv.Itoa(c.passAt)},
				{Name: "CODE", Value: strconv.Itoa(c.code)},
			}
			res := r.run(context.Background(), p)
			j := res.Job("flaky")
			if j.Status != c.status || j.Attempts != c.attempts {
				t.Errorf("status %s attempts %d, want %s %d\n%s", j.Status, j.Attempts, c.status, c.attempts, r.rec.log("flaky"))
			}
			if strings.Contains("\n"+r.rec.log("flaky"), "\nstale working copy\n") {
				t.Error("a retry reused the working copy")
			}
		})
	}
}

func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	return strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z")
}

func TestTimeoutKillsTheJobsProcessGroup(t *testing.T) {
	r := newRunner(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := plan([]string{"test"},
		newJob("hang", "test", `sleep 60 & echo $! > "$PIDFILE"`, "wait").def(func(d *ci.Job) {
			d.Timeout = 300 * time.Millisecond
			d.AfterScript = []string{"echo after-script ran"}
		}),
	)
	p.Jobs[0].Variables = ci.Variables{{Name: "PIDFILE", Value: pidFile}}
	start := time.Now()
	res := r.run(context.Background(), p)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
	j := res.Job("hang")
	if j.Status != Failed || j.FailureReason != JobExecutionTimeout || j.ExitCode != -1 {
		t.Errorf("job %+v", j)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(2 * time.Second); !processGone(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !processGone(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the job's child sleep %d survived the timeout", pid)
	}
	if !strings.Contains(r.rec.log("hang"), "after-script ran") {
		t.Error("after_script did not run after the timeout")
	}
}

func TestArtifactsFollowDependenciesNotNeedsWithoutArtifacts(t *testing.T) {
	r := newRunner(t, nil)
	check := `if [ -e dist/app ]; then echo "got: $(cat dist/app)"; else echo "no artifacts"; fi; ls dist/app.o 2>/dev/null || echo "no .o"`
	p := plan([]string{"build", "test"},
		newJob("build", "build", "mkdir -p dist", "echo v1 > dist/app", "echo obj > dist/app.o").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"dist/"}, Exclude: []string{"dist/*.o"}}
		}),
		newJob("by-stage", "test", check),
		newJob("by-needs", "test", check).needs("build"),
		newJob("needs-no-artifacts", "test", check).needs("build"),
		newJob("no-dependencies", "test", check),
	)
	p.Job("needs-no-artifacts").Needs[0].Artifacts = false
	p.Job("no-dependencies").Dependencies = []string{}
	res := r.run(context.Background(), p)
	if res.Status != Success {
		t.Fatalf("pipeline %s", res.Status)
	}
	for job, wantLine := range map[string]string{"by-stage": "got: v1", "by-needs": "got: v1", "needs-no-artifacts": "no artifacts", "no-dependencies": "no artifacts"} {
		if log := r.rec.log(job); !strings.Contains(log, wantLine) || !strings.Contains(log, "no .o") {
			t.Errorf("%s: want %q and no excluded file:\n%s", job, wantLine, log)
		}
	}
	if dir := res.Job("build").ArtifactsDir; dir == "" {
		t.Error("no artifacts dir in the result")
	} else if b, err := os.ReadFile(filepath.Join(dir, "dist/app")); err != nil || string(b) != "v1\n" {
		t.Errorf("artifacts kept after the run: %q %v", b, err)
	}
}

func TestArtifactsWhenOnFailure(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a", "b"},
		newJob("crash", "a", "echo trace > crash.log", "exit 1").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"crash.log"}, When: "on_failure"}
		}),
		newJob("triage", "b", "cat crash.log").when(ci.OnFailure),
	))
	want(t, res, map[string]Status{"crash": Failed, "triage": Success})
	if !strings.Contains(r.rec.log("triage"), "trace") {
		t.Errorf("triage:\n%s", r.rec.log("triage"))
	}
}

// GitLab warns when artifacts:paths match nothing and its dependents run
// (docs.gitlab.com/ci/yaml/#artifactspaths: "no matching files").
func TestArtifactsMatchingNothingWarnAndDependentsRun(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a", "b"},
		newJob("build", "a", "echo no output").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"dist/"}}
		}),
		newJob("test", "b", "echo tested"),
	))
	want(t, res, map[string]Status{"build": Success, "test": Success})
	if log := r.rec.log("build"); !strings.Contains(log, "WARNING: artifacts: no file matches dist/") {
		t.Errorf("build log lacks the warning:\n%s", log)
	}
}

func TestDotenvReportReachesDependentJobs(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"build", "deploy"},
		newJob("build", "build", `echo "VERSION=1.2.3" > build.env`, `echo 'URL="http://localhost/x"' >> build.env`).def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Dotenv: []string{"build.env"}}
		}),
		newJob("deploy", "deploy", `echo "deploying $VERSION to $URL"`),
		newJob("other", "deploy", `echo "version=${VERSION:-none}"`).needs(),
	))
	if res.Status != Success {
		t.Fatalf("pipeline %s", res.Status)
	}
	if !strings.Contains(r.rec.log("deploy"), "deploying 1.2.3 to http://localhost/x") {
		t.Errorf("deploy:\n%s", r.rec.log("deploy"))
	}
	if !strings.Contains(r.rec.log("other"), "version=none") {
		t.Errorf("a job without the dependency got its dotenv:\n%s", r.rec.log("other"))
	}
	// The report (--report, the server's results.json) names them in its
	// own lower-case keys; a results.json written before still reads.
	b, err := json.Marshal(res.Job("build"))
	if want := `"dotenv":[{"name":"VERSION","value":"1.2.3"},{"name":"URL","value":"http://localhost/x"}]`; err != nil || !strings.Contains(string(b), want) {
		t.Errorf("report %s (%v), want %s", b, err, want)
	}
	var old JobResult
	if err := json.Unmarshal([]byte(`{"dotenv":[{"Name":"A","Value":"1"}]}`), &old); err != nil || len(old.Dotenv) != 1 || old.Dotenv[0].Name != "A" || old.Dotenv[0].Value != "1" {
		t.Errorf("an earlier results.json: %+v (%v)", old, err)
	}
}

func TestInvalidDotenvFailsTheJobWithPosition(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"build"},
		newJob("build", "build", `printf 'A=1\nnot a variable\n' > build.env`).def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Dotenv: []string{"build.env"}}
		}),
	))
	j := res.Job("build")
	if j.Status != Failed || !strings.Contains(j.Detail, "build.env:2:1") {
		t.Errorf("job %+v", j)
	}
}

func TestCacheRoundTripBetweenPipelines(t *testing.T) {
	r := newRunner(t, map[string]string{"deps.lock": "v1"})
	withCache := func(policy string) func(d *ci.Job) {
		return func(d *ci.Job) {
			d.Cache = []ci.Cache{{Key: "deps-$CI_COMMIT_REF_NAME", Paths: []string{"vendor/"}, Policy: policy}}
		}
	}
	p1 := plan([]string{"build"},
		newJob("fill", "build", `test ! -e vendor/lib || { echo "cache already there"; exit 1; }`, "mkdir -p vendor", "echo cached-lib > vendor/lib").def(withCache("")),
	)
	p1.Variables = ci.Variables{{Name: "CI_COMMIT_REF_NAME", Value: "main"}}
	if res := r.run(context.Background(), p1); res.Status != Success {
		t.Fatalf("first pipeline %s:\n%s", res.Status, r.rec.log("fill"))
	}

	p2 := plan([]string{"build"},
		newJob("use", "build", "cat vendor/lib", "echo changed > vendor/lib").def(withCache("pull")),
		newJob("other-ref", "build", `cat vendor/lib 2>/dev/null || echo "miss"`).def(func(d *ci.Job) {
			d.Cache = []ci.Cache{{Key: "deps-feature", Paths: []string{"vendor/"}, Policy: "pull"}}
		}),
	)
	p2.Variables = p1.Variables
	res := r.run(context.Background(), p2)
	if res.Status != Success || !strings.Contains(r.rec.log("use"), "cached-lib") {
		t.Fatalf("second pipeline %s:\n%s", res.Status, r.rec.log("use"))
	}
	if !strings.Contains(r.rec.log("other-ref"), "miss") {
		t.Errorf("another key restored the cache:\n%s", r.rec.log("other-ref"))
	}

	// policy: pull did not save "changed".
	p3 := plan([]string{"build"}, newJob("check", "build", "cat vendor/lib").def(withCache("pull")))
	p3.Variables = p1.Variables
	r.run(context.Background(), p3)
	if log := r.rec.log("check"); !strings.Contains(log, "cached-lib") || strings.Contains(log, "changed") {
		t.Errorf("policy pull saved the cache:\n%s", log)
	}
}

func TestCacheKeyFiles(t *testing.T) {
	r := newRunner(t, map[string]string{"go.sum": "a"})
	cache := func(d *ci.Job) {
		d.Cache = []ci.Cache{{KeyFiles: []string{"go.sum"}, KeyPrefix: "mod", Paths: []string{".mod"}}}
	}
	r.run(context.Background(), plan([]string{"b"}, newJob("fill", "b", "mkdir .mod", "echo x > .mod/x").def(cache)))
	res := r.run(context.Background(), plan([]string{"b"}, newJob("use", "b", "cat .mod/x").def(cache)))
	if res.Status != Success {
		t.Errorf("cache keyed by go.sum not restored:\n%s", r.rec.log("use"))
	}
}

func TestCancelStopsRunningJobsAndTheRest(t *testing.T) {
	r := newRunner(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.opts.Events = func(e Event) {
		r.rec.add(e)
		if e.Kind == JobLog && e.Line == "working" {
			cancel()
		}
	}
	start := time.Now()
	res := r.run(ctx, plan([]string{"a", "b"},
		newJob("long", "a", "echo working", "sleep 60"),
		newJob("later", "b", "true"),
	))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s", d)
	}
	want(t, res, map[string]Status{"long": Canceled, "later": Canceled})
	if res.Status != Canceled {
		t.Errorf("pipeline %s", res.Status)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	r := newRunner(t, nil)
	r.opts.Concurrency = 2
	var jobs []job
	for i := range 5 {
		jobs = append(jobs, newJob("j"+strconv.Itoa(i), "a", "sleep 0.1"))
	}
	r.run(context.Background(), plan([]string{"a"}, jobs...))
	running, peak := 0, 0
	for _, e := range r.rec.all() {
		switch e.Kind {
		case JobStarted:
			running++
			peak = max(peak, running)
		case JobFinished:
			running--
		}
	}
	if peak != 2 {
		t.Errorf("peak concurrency %d, want 2", peak)
	}
}

func TestDelayedJobWaitsStartIn(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"a"}, newJob("later", "a", "true").when(ci.Delayed))
	p.Jobs[0].StartIn = 400 * time.Millisecond
	start := time.Now()
	res := r.run(context.Background(), p)
	if res.Job("later").Status != Success {
		t.Fatalf("%+v", res.Job("later"))
	}
	if d := r.rec.first(JobStarted, "later").Sub(start); d < 400*time.Millisecond {
		t.Errorf("started after %s, want >= 400ms", d)
	}
}

func TestPlanErrors(t *testing.T) {
	r := newRunner(t, nil)
	cyc := plan([]string{"a"}, newJob("x", "a", "true").needs("y"), newJob("y", "a", "true").needs("x"))
	if _, err := Run(context.Background(), cyc, r.opts); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	unknown := plan([]string{"a"}, newJob("x", "a", "true").needs("ghost"))
	if _, err := Run(context.Background(), unknown, r.opts); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("unknown need: %v", err)
	}
	r.opts.Commit = "no-such-rev"
	if _, err := Run(context.Background(), plan([]string{"a"}, newJob("x", "a", "true")), r.opts); err == nil || !strings.Contains(err.Error(), "no-such-rev") {
		t.Errorf("bad commit: %v", err)
	}
}

func TestReportJSONShape(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run(context.Background(), plan([]string{"a"}, newJob("x", "a", "exit 7").allowFailure()))
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status string                   `json:"status"`
		Jobs   []map[string]interface{} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status != "success" || len(doc.Jobs) != 1 {
		t.Fatalf("%s", b)
	}
	j := doc.Jobs[0]
	for k, v := range map[string]interface{}{"name": "x", "stage": "a", "status": "failed", "allow_failure": true, "exit_code": 7.0, "attempts": 1.0} {
		if !reflect.DeepEqual(j[k], v) {
			t.Errorf("%s = %v, want %v in %s", k, j[k], v, b)
		}
	}
	if _, ok := j["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms missing: %s", b)
	}
}

func TestPrinterPrefixesLinesAndSummarizes(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"a", "b"}, newJob("build", "a", "echo hi"), newJob("broken", "a", "exit 1"), newJob("test", "b", "true"))
	var out bytes.Buffer
	pr := NewPrinter(&out, p)
	r.opts.Events = pr.Handle
	r.run(context.Background(), p)
	s := out.String()
	for _, want := range []string{"build  | $ echo hi\n", "build  | hi\n", "broken | === failed in", "JOB     STAGE  STATUS", "test    b      skipped", " failed in "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestJobOutputPastTheLimitIsCutAndTheJobGoesOn(t *testing.T) {
	r := newRunner(t, map[string]string{"README": "x\n"})
	r.opts.OutputLimit = 1000
	res := r.run(context.Background(), plan([]string{"test"},
		newJob("loud", "test", "for i in $(seq 100); do echo line-$i-padding-padding; done", "echo after-the-limit", "touch done"),
	))
	want(t, res, map[string]Status{"loud": Success})
	log := r.rec.log("loud")
	notice := LimitNotice(1000)
	if strings.Count(log, notice) != 1 || strings.Contains(log, "after-the-limit") || strings.Contains(log, "line-100-") {
		t.Fatalf("log not cut once at the limit:\n%s", log)
	}
	output, _, _ := strings.Cut(log, notice)
	if kept := len(output) - 1; kept > 1000 || kept < 950 || !strings.Contains(output, "\nline-1-padding-padding\n") {
		t.Errorf("%d bytes kept before the notice, want the first ones up to 1000", len(output)-1)
	}
	// The engine's own lines still come after the job's output.
	if !strings.Contains(log, notice+"\nJob succeeded\n") {
		t.Errorf("no Job succeeded after the notice:\n%s", log[len(output):])
	}
}

// TestEngineLinesCannotBeForged: a branch name with a newline or carriage
// return, printed by the engine in a line of its own, stays on that line:
// it cannot add a "Job succeeded" line to a failed job's log.
func TestEngineLinesCannotBeForged(t *testing.T) {
	r := newRunner(t, nil)
	// The job fails, so a "Job succeeded" line can only be forged; its
	// artifacts (always) name the branch in a warning: nothing matches.
	p := plan([]string{"test"}, newJob("test", "test", "echo tested", "exit 1").def(func(d *ci.Job) {
		d.Artifacts = &ci.Artifacts{Dotenv: []string{"$CI_COMMIT_REF_NAME.env"}, When: "always"}
	}))
	p.Variables = ci.Variables{{Name: "CI_COMMIT_REF_NAME", Value: "main\nJob succeeded\r\x1bok"}}
	res := r.run(context.Background(), p)
	want(t, res, map[string]Status{"test": Failed})
	log := r.rec.log("test")
	for _, l := range strings.Split(log, "\n") {
		if l == "Job succeeded" || strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("a line forged by the branch name: %q", l)
		}
	}
	if !strings.Contains(log, `main\nJob succeeded\r\x1bok.env`) {
		t.Errorf("the branch name is not shown escaped:\n%s", log)
	}
	var out strings.Builder
	pr := NewPrinter(&out, p)
	for _, e := range r.rec.all() {
		pr.Handle(e)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "Job succeeded") || strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("slipway run prints a forged line: %q", l)
		}
	}
}
