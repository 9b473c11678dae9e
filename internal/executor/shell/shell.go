// Package shell is the executor that runs a job's scripts on the host, with
// bash when it is installed and sh otherwise, as GitLab's shell executor
// does. Each script runs in its own process group so that a timeout or a
// cancel kills everything the job started.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/jobproc"
)

// Defaults for the zero Executor.
const (
	DefaultKillGrace          = 10 * time.Second
	DefaultAfterScriptTimeout = 5 * time.Minute
	// outputGrace bounds how long output is still read after a script's
	// process group is gone: a process that left the group (setsid) may hold
	// the pipe open forever.
	outputGrace = 2 * time.Second
)

// hostEnv names the host variables a job inherits; everything else comes
// from the job's own variables, so that jobs run the same on any machine.
var hostEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
	// The host's Docker engine, as a shell runner's jobs use it (docker build, slipway image build).
	"DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Executor runs scripts with the host's shell. The zero value is ready to
// use.
type Executor struct {
	// Shell is the interpreter's path; empty picks bash when found on PATH,
	// else /bin/sh.
	Shell string
	// KillGrace is how long a process group has between SIGTERM and
	// SIGKILL when the job's context ends.
	KillGrace time.Duration
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "shell" }

// Run implements executor.Executor: it runs spec.Script, then
// spec.AfterScript whatever happened. The result's exit code is the
// script's; after_script only writes to the log.
func (e *Executor) Run(ctx context.Context, spec *executor.Spec) (executor.Result, error) {
	shell, isBash := e.shell()
	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	// The marker finds what the job left running outside its process group.
	marker := jobproc.Marker(spec.ID)
	env := append(Environ(spec.Env), jobproc.EnvName+"="+marker)

	code, runErr := e.run(ctx, shell, spec.Dir, env, marker, Script(spec.Script, isBash), out)
	res := executor.Result{ExitCode: code}
	var startErr *startError
	if errors.As(runErr, &startErr) {
		res.SystemFailure = true
	}

	if len(spec.AfterScript) > 0 {
		e.afterScript(ctx, shell, isBash, spec, env, marker, jobStatus(ctx, code, runErr), out)
	}
	return res, runErr
}

// afterScript runs spec.AfterScript on a context that outlives a cancel of
// ctx (GitLab runs after_script for canceled and timed-out jobs too) but has
// its own timeout.
func (e *Executor) afterScript(ctx context.Context, shell string, isBash bool, spec *executor.Spec, env []string, marker, status string, out io.Writer) {
	timeout := spec.AfterScriptTimeout
	if timeout <= 0 {
		timeout = DefaultAfterScriptTimeout
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	env = append(env, "CI_JOB_STATUS="+status)
	fmt.Fprintln(out, "Running after_script")
	code, err := e.run(actx, shell, spec.Dir, env, marker, Script(spec.AfterScript, isBash), out)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(out, "WARNING: after_script timed out after %s\n", timeout)
	case err != nil:
		fmt.Fprintf(out, "WARNING: after_script failed: %v\n", err)
	case code != 0:
		fmt.Fprintf(out, "WARNING: after_script failed with exit code %d\n", code)
	}
}

// jobStatus is CI_JOB_STATUS as GitLab sets it for after_script.
func jobStatus(ctx context.Context, code int, err error) string {
	switch {
	case err == nil && code == 0:
		return "success"
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	}
	return "failed"
}

func (e *Executor) shell() (path string, isBash bool) {
	if e.Shell != "" {
		return e.Shell, strings.HasSuffix(e.Shell, "bash")
	}
	if p, err := exec.LookPath("bash"); err == nil {
		return p, true
	}
	return "/bin/sh", false
}

// Environ returns env over the few host variables a job inherits (PATH,
// HOME, locale...): later entries win.
func Environ(env []string) []string {
	out := make([]string, 0, len(hostEnv)+len(env))
	for _, name := range hostEnv {
		if v, ok := os.LookupEnv(name); ok {
			out = append(out, name+"="+v)
		} else if name == "PATH" {
			out = append(out, "PATH="+defaultPath)
		}
	}
	return append(out, env...)
}

// Script turns commands into one shell program with GitLab's semantics:
// each command is echoed as "$ cmd" before it runs and the program stops at
// the first failing command with that command's exit code.
func Script(commands []string, bash bool) string {
	if bash {
		return "set -eo pipefail\n" + steps(commands)
	}
	return "set -e\n" + steps(commands)
}

// AnyShellScript is Script for a shell chosen where the job runs (bash when
// the image has it, else sh, as GitLab Runner does): pipefail under bash only.
func AnyShellScript(commands []string) string {
	return "set -e\nif [ -n \"${BASH_VERSION:-}\" ]; then set -o pipefail; fi\n" + steps(commands)
}

// steps echoes each command, as GitLab shows it, before running it.
func steps(commands []string) string {
	var b strings.Builder
	for _, c := range commands {
		shown := c
		if first, _, multi := strings.Cut(strings.TrimRight(c, "\n"), "\n"); multi {
			shown = first + " # collapsed multi-line command"
		}
		b.WriteString("printf '%s\\n' ")
		b.WriteString(Quote("$ " + shown))
		b.WriteByte('\n')
		b.WriteString(c)
		b.WriteByte('\n')
	}
	return b.String()
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// maxArgScript is the largest script passed with -c; Linux refuses
// arguments above 128 KiB, so longer ones go through a file.
const maxArgScript = 64 << 10

func shellArgs(script string) (args []string, cleanup func(), err error) {
	if len(script) <= maxArgScript {
		return []string{"-c", script}, func() {}, nil
	}
	f, err := os.CreateTemp("", "slipway-script-*.sh")
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, nil, err
	}
	return []string{f.Name()}, func() { os.Remove(f.Name()) }, nil
}

// startError marks a script that could not be started at all.
type startError struct{ err error }

func (e *startError) Error() string { return "start shell: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// run runs one shell program in its own process group and returns its exit
// code (-1 when it did not exit by itself). When ctx ends first the group
// gets SIGTERM, then SIGKILL after the grace period, and ctx.Err() is
// returned. Processes the script left behind are killed when it ends.
func (e *Executor) run(ctx context.Context, shell, dir string, env []string, marker, script string, out io.Writer) (int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, &startError{err}
	}
	defer pr.Close()
	args, cleanup, err := shellArgs(script)
	if err != nil {
		pw.Close()
		return -1, &startError{err}
	}
	defer cleanup()
	cmd := exec.Command(shell, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return -1, &startError{err}
	}
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	go func() {
		// Write errors are the sink's problem; keep draining so the job
		// never blocks on a full pipe.
		_, _ = io.Copy(out, pr)
		close(copied)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var ctxErr error
	select {
	case <-waited:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := e.KillGrace
		if grace <= 0 {
			grace = DefaultKillGrace
		}
		select {
		case <-waited:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-waited
		}
	}
	// Whatever the script left running goes with it: in its group, and
	// outside it (setsid, daemons) by the marker in its environment.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	jobproc.Kill(marker, pgid)
	select {
	case <-copied:
	case <-time.After(outputGrace):
		pr.Close()
		<-copied
	}

	if ctxErr != nil {
		return -1, ctxErr
	}
	if st := cmd.ProcessState; st != nil && st.Exited() {
		return st.ExitCode(), nil
	}
	return -1, nil
}
