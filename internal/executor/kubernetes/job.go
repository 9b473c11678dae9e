package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes/helper"
	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// apiTimeout bounds the API calls that must finish even when the job's
// context has ended: deleting the pod, copying a finished job's files out.
const apiTimeout = time.Minute

// job is one Run.
type job struct {
	cs         k8s.Interface
	rest       *rest.Config
	opts       *Options
	spec       *executor.Spec
	out        io.Writer
	env        map[string]string
	name       string // the pod's
	projectDir string
	created    bool
	secret     string // the registry secret's name, "" when none
}

// Run implements executor.Executor: it creates the job's pod, copies the
// working copy in, runs spec.Script then spec.AfterScript in the build
// container, copies the working copy out, and deletes the pod whatever
// happened. A timeout or cancel deletes the pod at once.
func (e *Executor) Run(ctx context.Context, spec *executor.Spec) (executor.Result, error) {
	j := e.newJob(spec)
	defer j.cleanup(ctx)
	fail := func(err error) (executor.Result, error) {
		if ctx.Err() != nil {
			return executor.Result{ExitCode: -1}, ctx.Err()
		}
		return executor.Result{ExitCode: -1, SystemFailure: !errors.As(err, new(configError))}, fmt.Errorf("job %s: %w", spec.JobName, err)
	}
	if err := j.start(ctx); err != nil {
		return fail(err)
	}
	if err := j.copyIn(ctx); err != nil {
		return fail(err)
	}
	code, err := j.exec(ctx, buildContainer, []string{"sh", j.scriptPath("script.sh")}, nil, j.out, j.out)
	if ctx.Err() != nil {
		// The script may run on in the container: the pod goes now.
		j.cleanup(ctx)
		fmt.Fprintf(j.out, "WARNING: the job's pod was deleted (%v); after_script did not run\n", context.Cause(ctx))
		return executor.Result{ExitCode: -1}, ctx.Err()
	}
	if err != nil {
		return fail(err)
	}
	if len(spec.AfterScript) > 0 {
		j.afterScript(ctx, code)
	}
	if errors.Is(ctx.Err(), context.Canceled) { // nothing of a canceled job is kept
		return executor.Result{ExitCode: code}, nil
	}
	// The engine collects artifacts and cache from spec.Dir.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*apiTimeout)
	defer cancel()
	if err := j.copyOut(cctx); err != nil {
		return fail(err)
	}
	return executor.Result{ExitCode: code}, nil
}

func (e *Executor) newJob(spec *executor.Spec) *job {
	projectDir := spec.ProjectDir
	if projectDir == "" {
		projectDir = e.ProjectDir(spec.Dir)
	}
	return &job{
		cs: e.cs, rest: e.rest, opts: &e.opts, spec: spec,
		out: spec.SharedLog(), env: spec.Vars(),
		name: podName(spec.ID), projectDir: projectDir,
	}
}

func (j *job) expand(s string) string {
	return expand.Expand(s, func(name string) (string, bool) {
		v, ok := j.env[name]
		return v, ok
	})
}

// cleanup deletes the pod and the registry secret, even after ctx ended;
// it may run twice.
func (j *job) cleanup(ctx context.Context) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	var errs []error
	if j.created {
		if err := deletePod(bctx, j.cs, j.opts.Namespace, j.name); err != nil {
			errs = append(errs, err)
		} else {
			j.created = false
		}
	}
	if j.secret != "" {
		if err := deleteSecret(bctx, j.cs, j.opts.Namespace, j.secret); err != nil {
			errs = append(errs, err)
		} else {
			j.secret = ""
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(j.out, "WARNING: cleanup: %v\n", err)
		slog.Warn("kubernetes: job cleanup", "job", j.spec.JobName, "pod", j.name, "err", err)
	}
}

// envName is what a shell takes as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// script is a program that exports the job's variables and enters the
// working copy (which only exists once copied in), then runs commands with
// GitLab's semantics. The variables go in the script, on
// the pod's own volume, rather than in the pod's spec, which anyone who
// may read pods would see.
func (j *job) script(commands []string) []byte {
	var b strings.Builder
	for _, kv := range j.spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		if envName.MatchString(k) {
			fmt.Fprintf(&b, "export %s=%s\n", k, shell.Quote(v))
		}
	}
	fmt.Fprintf(&b, "cd %s\n", shell.Quote(j.projectDir))
	b.WriteString(shell.Script(commands, false))
	return []byte(b.String())
}

// copyIn streams the working copy (with the dependencies' artifacts and
// the cache the engine restored in it) and the scripts into the pod,
// through the helper container.
func (j *job) copyIn(ctx context.Context) error {
	rel, err := filepath.Rel(j.opts.BuildsDir, j.projectDir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("project folder %s is not under builds_dir %s", j.projectDir, j.opts.BuildsDir)
	}
	extra := []helper.File{
		{Name: path.Join(scriptsDir, "script.sh"), Mode: 0o644, Data: j.script(j.spec.Script)},
		{Name: path.Join(scriptsDir, "after.sh"), Mode: 0o644, Data: j.script(j.spec.AfterScript)},
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(helper.WriteTar(pw, j.spec.Dir, filepath.ToSlash(rel), extra)) }()
	defer pr.Close()
	var stderr strings.Builder
	code, err := j.exec(ctx, helperContainer, []string{helper.BinaryPath, helper.Command, "untar", j.opts.BuildsDir}, pr, io.Discard, &stderr)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return fmt.Errorf("copy the working copy into the pod: %w", err)
	}
	return nil
}

// copyOut replaces spec.Dir with the pod's working copy, so that the
// engine finds the job's artifacts and cache there.
func (j *job) copyOut(ctx context.Context) error {
	if j.spec.Dir == "" {
		return nil
	}
	entries, err := os.ReadDir(j.spec.Dir)
	if err != nil {
		return fmt.Errorf("copy the working copy out of the pod: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(j.spec.Dir, e.Name())); err != nil {
			return fmt.Errorf("copy the working copy out of the pod: %w", err)
		}
	}
	pr, pw := io.Pipe()
	extracted := make(chan error, 1)
	go func() {
		err := helper.Extract(pr, j.spec.Dir)
		pr.CloseWithError(err)
		extracted <- err
	}()
	var stderr strings.Builder
	code, err := j.exec(ctx, helperContainer, []string{helper.BinaryPath, helper.Command, "tar", j.projectDir}, nil, pw, &stderr)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	pw.CloseWithError(err)
	if xerr := <-extracted; err == nil {
		err = xerr
	}
	if err != nil {
		return fmt.Errorf("copy the working copy out of the pod: %w", err)
	}
	return nil
}

// afterScript runs spec.AfterScript in the build container with its own
// timeout; its result only goes to the log.
func (j *job) afterScript(ctx context.Context, code int) {
	timeout := j.spec.AfterScriptTimeout
	if timeout <= 0 {
		timeout = DefaultAfterScriptTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status := "success"
	if code != 0 {
		status = "failed"
	}
	fmt.Fprintln(j.out, "Running after_script")
	cmd := "export CI_JOB_STATUS=" + status + "; exec sh " + shell.Quote(j.scriptPath("after.sh"))
	code, err := j.exec(actx, buildContainer, []string{"sh", "-c", cmd}, nil, j.out, j.out)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(j.out, "WARNING: after_script timed out after %s\n", timeout)
	case err != nil:
		fmt.Fprintf(j.out, "WARNING: after_script failed: %v\n", err)
	case code != 0:
		fmt.Fprintf(j.out, "WARNING: after_script failed with exit code %d\n", code)
	}
}
