package shell

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func run(t *testing.T, ctx context.Context, e *Executor, spec *executor.Spec) (executor.Result, string, error) {
	t.Helper()
	var out testenv.Buffer
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	spec.Output = &out
	res, err := e.Run(ctx, spec)
	return res, out.String(), err
}

func TestEchoesCommandsAndStopsAtFirstFailure(t *testing.T) {
	for _, sh := range []string{"", "/bin/sh"} {
		t.Run("shell="+sh, func(t *testing.T) {
			res, out, err := run(t, context.Background(), &Executor{Shell: sh}, &executor.Spec{
				Script: []string{"echo one", "cd sub 2>/dev/null || mkdir sub && cd sub && pwd", "exit 3", "echo never"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 3 {
				t.Errorf("exit code %d, want 3", res.ExitCode)
			}
			for _, want := range []string{"$ echo one\none\n", "$ exit 3\n", "/sub\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "never") {
				t.Errorf("ran past the failing command:\n%s", out)
			}
		})
	}
}

func TestFailingCommandInsideLineStopsTheJob(t *testing.T) {
	res, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		Script: []string{"false | true", "test -f missing", "echo after"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// bash gets pipefail, so "false | true" already fails like on GitLab.
	if res.ExitCode != 1 || strings.Contains(out, "after") {
		t.Errorf("exit %d, output:\n%s", res.ExitCode, out)
	}
}

func TestMultiLineCommandIsCollapsedInTheLog(t *testing.T) {
	_, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		Script: []string{"for i in 1 2; do\n  echo n$i\ndone\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "$ for i in 1 2; do # collapsed multi-line command\nn1\nn2\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestEnvIsSpecOverMinimalHost(t *testing.T) {
	t.Setenv("SLIPWAY_HOST_SECRET", "leak")
	res, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		Env:    []string{"GREETING=hi there", "HOME=/job/home"},
		Script: []string{`echo "g=$GREETING h=$HOME s=${SLIPWAY_HOST_SECRET:-unset}"`, `command -v sh >/dev/null`},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d err %v\n%s", res.ExitCode, err, out)
	}
	if !strings.Contains(out, "g=hi there h=/job/home s=unset") {
		t.Errorf("output:\n%s", out)
	}
}

func TestStartsInSpecDir(t *testing.T) {
	dir := t.TempDir()
	_, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{Dir: dir, Script: []string{"pwd -P"}})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if !strings.Contains(out, real+"\n") {
		t.Errorf("output %q, want dir %s", out, real)
	}
}

func TestAfterScriptRunsAfterFailureAndNeverChangesTheResult(t *testing.T) {
	res, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		Script:      []string{"echo main", "exit 4"},
		AfterScript: []string{`echo "after status=$CI_JOB_STATUS"`, "exit 9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 4 {
		t.Errorf("exit code %d, want 4", res.ExitCode)
	}
	if !strings.Contains(out, "after status=failed") || !strings.Contains(out, "after_script failed with exit code 9") {
		t.Errorf("output:\n%s", out)
	}
}

func TestAfterScriptHasItsOwnTimeout(t *testing.T) {
	start := time.Now()
	res, out, err := run(t, context.Background(), &Executor{KillGrace: 100 * time.Millisecond}, &executor.Spec{
		Script:             []string{"true"},
		AfterScript:        []string{"sleep 30"},
		AfterScriptTimeout: 200 * time.Millisecond,
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d err %v", res.ExitCode, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("after_script was not stopped: took %s", time.Since(start))
	}
	if !strings.Contains(out, "after_script timed out") {
		t.Errorf("output:\n%s", out)
	}
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z")
}

func TestTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The child ignores SIGTERM, so only the SIGKILL after the grace
	// period ends it.
	res, out, err := run(t, ctx, &Executor{KillGrace: 300 * time.Millisecond}, &executor.Spec{
		Dir:         dir,
		Script:      []string{`sh -c 'trap "" TERM; sleep 60' & echo $! > child.pid; wait`},
		AfterScript: []string{`echo "after status=$CI_JOB_STATUS"`},
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded\n%s", err, out)
	}
	if res.ExitCode != -1 {
		t.Errorf("exit code %d, want -1", res.ExitCode)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("child %d survived the timeout", pid)
	}
	if !strings.Contains(out, "after status=failed") {
		t.Errorf("after_script did not run after the timeout:\n%s", out)
	}
}

func TestLeftoverBackgroundProcessesAreKilled(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	res, _, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		Dir:    dir,
		Script: []string{"sleep 60 & echo $! > bg.pid", "echo done"},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d err %v", res.ExitCode, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited for the background process: %s", d)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bg.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	time.Sleep(50 * time.Millisecond)
	if pid == 0 || alive(pid) {
		t.Errorf("background process %d still runs", pid)
	}
}

// docs/executors.md: nothing a job started runs on after it, also what
// left its process group: setsid, or a daemon's double fork.
func TestProcessesThatLeftTheGroupAreKilled(t *testing.T) {
	dir := t.TempDir()
	res, _, err := run(t, context.Background(), &Executor{}, &executor.Spec{
		ID:  "left-the-group",
		Dir: dir,
		Script: []string{
			"setsid sleep 300 > /dev/null 2>&1 & echo $! > setsid.pid",
			"sh -c 'setsid sleep 301 > /dev/null 2>&1 & echo $! > daemon.pid' &",
			"while [ ! -s daemon.pid ]; do sleep 0.01; done",
		},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d err %v", res.ExitCode, err)
	}
	for _, f := range []string{"setsid.pid", "daemon.pid"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid == 0 {
			t.Fatalf("%s: no pid", f)
		}
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s: process %d runs on after the job", f, pid)
		}
	}
}

// gone waits a while for pid to end (a zombie counts as ended).
func gone(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		s := string(b)
		if strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z") {
			return true
		}
	}
	return false
}

func TestCancelReturnsCanceledAndAfterScriptSeesIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.Buffer
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = (&Executor{KillGrace: time.Second}).Run(ctx, &executor.Spec{
			Dir:         t.TempDir(),
			Script:      []string{"echo started", "sleep 60"},
			AfterScript: []string{`echo "after status=$CI_JOB_STATUS"`},
			Output:      &out,
		})
	}()
	for !strings.Contains(out.String(), "started") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not stop the job")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want canceled", err)
	}
	if !strings.Contains(out.String(), "after status=canceled") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestMissingShellIsASystemFailure(t *testing.T) {
	res, _, err := run(t, context.Background(), &Executor{Shell: "/nonexistent/sh"}, &executor.Spec{Script: []string{"true"}})
	if err == nil || !res.SystemFailure {
		t.Errorf("res %+v err %v, want a system failure", res, err)
	}
}

func TestLongScriptGoesThroughAFile(t *testing.T) {
	big := "echo " + strings.Repeat("x", maxArgScript+10)
	res, out, err := run(t, context.Background(), &Executor{}, &executor.Spec{Script: []string{big, "echo tail"}})
	if err != nil || res.ExitCode != 0 || !strings.HasSuffix(out, "tail\n") {
		t.Errorf("exit %d err %v tail %q", res.ExitCode, err, out[max(0, len(out)-20):])
	}
}
