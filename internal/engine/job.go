package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// runJob runs a job's attempts (one, plus its retries) and reports the
// outcome. It reads the finished jobs' state, which the scheduler no
// longer changes.
func (r *run) runJob(ctx context.Context, j *jobState) outcome {
	start := time.Now()
	o := outcome{index: j.index, res: j.res}
	o.res.Status, o.res.FailureReason, o.res.Detail = Running, "", ""
	exe, err := r.executor(j.job)
	for attempt := 1; ; attempt++ {
		var a attemptResult
		if err != nil {
			a = attemptResult{status: Failed, exitCode: -1, reason: RunnerSystemFailure, detail: err.Error()}
		} else {
			a = r.attempt(ctx, j, exe, attempt)
		}
		o.res.Attempts = attempt
		o.res.Status, o.res.ExitCode, o.res.FailureReason, o.res.Detail, o.res.JobID = a.status, a.exitCode, a.reason, a.detail, a.jobID
		o.artifactsDir, o.dotenv, o.res.ArtifactsExpireAt = a.artifactsDir, a.dotenv, a.expireAt
		if a.status != Failed || !r.retries(j.job, a, attempt) {
			break
		}
		r.log(j, a.jobID, attempt, fmt.Sprintf("Retrying: attempt %d of %d", attempt+1, j.job.Def.Retry.Max+1))
	}
	if o.res.Status == Failed {
		o.res.AllowFailure = allowsFailureOf(j.job, o.res.ExitCode, o.res.FailureReason)
	}
	o.res.Duration = time.Since(start)
	o.res.DurationMS = o.res.Duration.Milliseconds()
	if o.artifactsDir != "" {
		o.res.ArtifactsDir = o.artifactsDir
	}
	o.res.Dotenv = o.dotenv
	return o
}

// allowsFailureOf: allow_failure:exit_codes only forgives a script that
// exited with one of them; allow_failure: true forgives anything.
func allowsFailureOf(pj *ci.PlannedJob, exitCode int, reason string) bool {
	af := pj.AllowFailure
	if len(af.ExitCodes) > 0 {
		return reason == ScriptFailure && af.Allows(exitCode)
	}
	return allowsFailure(pj)
}

// retries reports whether a failed attempt is retried: within retry:max,
// and its reason is in retry:when (default always, unless exit codes are
// given) or its exit code in retry:exit_codes, as GitLab decides.
func (r *run) retries(pj *ci.PlannedJob, a attemptResult, attempt int) bool {
	rt := pj.Def.Retry
	if attempt > rt.Max {
		return false
	}
	when := rt.When
	if len(when) == 0 && len(rt.ExitCodes) == 0 {
		when = []string{"always"}
	}
	if slices.Contains(when, "always") || slices.Contains(when, a.reason) {
		return true
	}
	return a.reason == ScriptFailure && slices.Contains(rt.ExitCodes, a.exitCode)
}

func (r *run) executor(pj *ci.PlannedJob) (executor.Executor, error) {
	if r.opts.ExecutorFor != nil {
		return r.opts.ExecutorFor(pj)
	}
	return r.opts.Executor, nil
}

type attemptResult struct {
	status       Status
	exitCode     int
	reason       string
	detail       string
	jobID        int64
	artifactsDir string
	expireAt     time.Time // when artifactsDir expires; zero: never
	dotenv       []workspace.EnvVar
}

// attempt runs a job once in a fresh working copy.
func (r *run) attempt(ctx context.Context, j *jobState, exe executor.Executor, attempt int) attemptResult {
	pj := j.job
	jobID := j.firstID
	if _, fixed := r.opts.JobIDs[pj.Name]; attempt > 1 && !fixed {
		var err error
		if jobID, err = r.ids.next(); err != nil {
			return attemptResult{status: Failed, exitCode: -1, reason: RunnerSystemFailure, detail: err.Error()}
		}
	}
	r.events.emit(Event{Kind: JobStarted, Job: pj.Name, Stage: pj.Stage, JobID: jobID, Attempt: attempt, Status: Running})
	out := &lineWriter{limit: r.opts.OutputLimit, emit: func(line string, continued bool) {
		r.events.emit(Event{Kind: JobLog, Job: pj.Name, Stage: pj.Stage, JobID: jobID, Attempt: attempt, Line: line, Continued: continued})
	}}
	logf := func(format string, args ...any) { r.log(j, jobID, attempt, fmt.Sprintf(format, args...)) }
	sysFail := func(err error) attemptResult {
		logf("ERROR: %v", err)
		return attemptResult{status: Failed, exitCode: -1, reason: RunnerSystemFailure, detail: err.Error(), jobID: jobID}
	}

	name := fmt.Sprintf("%s-%d", slug(pj.Name), jobID)
	if attempt > 1 { // a server's attempts share one job ID; the last copy may still be being removed
		name += fmt.Sprintf("-%d", attempt)
	}
	dir := filepath.Join(r.pipeDir, "builds", name)
	if err := r.snapshot.CopyTo(dir); err != nil {
		return sysFail(err)
	}
	if !r.opts.KeepWorkingCopies {
		defer r.remove(dir)
	}
	projectDir := dir
	if pd, ok := exe.(ProjectDirer); ok {
		projectDir = pd.ProjectDir(dir)
	}

	var dotenv []workspace.EnvVar
	for _, d := range j.deps {
		dep := r.jobs[d]
		if dep.artifactsDir != "" {
			missing := func() attemptResult {
				detail := fmt.Sprintf("the artifacts of %s have expired or were removed", dep.job.Name)
				logf("ERROR: %s", detail)
				return attemptResult{status: Failed, exitCode: -1, reason: MissingDependencyFailure, detail: detail, jobID: jobID}
			}
			if artifactsGone(dep.artifactsDir, time.Now()) {
				return missing()
			}
			logf("Restoring artifacts of %s", dep.job.Name)
			if err := workspace.CopyTree(dep.artifactsDir, dir); err != nil {
				if artifactsGone(dep.artifactsDir, time.Now()) { // expired while being copied
					return missing()
				}
				return sysFail(fmt.Errorf("artifacts of %s: %w", dep.job.Name, err))
			}
		}
		dotenv = append(dotenv, dep.dotenv...)
	}
	vars, err := r.variables(pj, dotenv, projectDir, jobID)
	if err != nil {
		logf("ERROR: %v", err)
		return attemptResult{status: Failed, exitCode: -1, reason: ScriptFailure, detail: err.Error(), jobID: jobID}
	}
	lookup := func(name string) (string, bool) {
		for i := len(vars) - 1; i >= 0; i-- {
			if vars[i].Name == name {
				return vars[i].Value, true
			}
		}
		return "", false
	}

	caches, err := r.caches(pj, dir, lookup)
	if err != nil {
		return sysFail(err)
	}
	for _, c := range caches {
		if c.policy == "push" {
			continue
		}
		hit, err := r.cache.Restore(c.keys, dir)
		switch {
		case err != nil:
			logf("WARNING: %v", err)
		case hit == "":
			logf("Cache %q not found", c.keys[0])
		default:
			logf("Restored cache %q", hit)
		}
	}

	env := make([]string, len(vars))
	for i, v := range vars {
		env[i] = v.Name + "=" + v.Value
	}
	timeout := pj.Def.Timeout
	if timeout <= 0 {
		timeout = r.opts.DefaultTimeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	afterTimeout := r.opts.AfterScriptTimeout
	if afterTimeout <= 0 {
		afterTimeout = DefaultAfterScriptTimeout
	}
	spec := &executor.Spec{
		JobName:            pj.Name,
		ID:                 fmt.Sprintf("slipway-%d-%d", r.id, jobID),
		Dir:                dir,
		ProjectDir:         projectDir,
		Env:                env,
		Script:             append(slices.Clip(pj.Def.BeforeScript), pj.Def.Script...),
		AfterScript:        pj.Def.AfterScript,
		AfterScriptTimeout: afterTimeout,
		Image:              pj.Def.Image,
		Services:           pj.Def.Services,
		Output:             out,
	}
	jobCtx, cancel := context.WithTimeout(ctx, timeout)
	res, runErr := exe.Run(jobCtx, spec)
	cancel()
	out.Flush()

	a := attemptResult{exitCode: res.ExitCode, jobID: jobID}
	switch {
	case ctx.Err() != nil:
		a.status, a.exitCode, a.reason, a.detail = Canceled, -1, reasonCanceled, "the pipeline was canceled"
	case errors.Is(runErr, context.DeadlineExceeded):
		a.status, a.exitCode, a.reason, a.detail = Failed, -1, JobExecutionTimeout, fmt.Sprintf("timed out after %s", timeout)
	case runErr != nil || res.SystemFailure:
		a.status, a.reason = Failed, RunnerSystemFailure
		a.detail = fmt.Sprintf("%s executor: %v", exe.Name(), runErr)
	case res.ExitCode != 0:
		a.status, a.reason, a.detail = Failed, ScriptFailure, fmt.Sprintf("exit code %d", res.ExitCode)
	default:
		a.status = Success
	}
	if a.status == Canceled {
		logf("ERROR: Job canceled")
		return a
	}

	succeeded := a.status == Success
	for _, c := range caches {
		if c.policy == "pull" || !whenMatches(c.when, succeeded) {
			continue
		}
		n, err := r.cache.Save(c.keys[0], dir, c.sel)
		if err != nil {
			logf("WARNING: %v", err)
			continue
		}
		logf("Saved cache %q (%d files)", c.keys[0], n)
	}
	if art := pj.Def.Artifacts; art != nil && whenMatches(art.When, succeeded) {
		if err := r.saveArtifacts(j, dir, lookup, &a, logf); err != nil {
			if a.status == Success {
				a.status, a.exitCode, a.reason, a.detail = Failed, 0, ScriptFailure, err.Error()
			}
			logf("ERROR: %v", err)
		}
	}
	switch a.status {
	case Success:
		logf("Job succeeded")
	case Failed:
		logf("ERROR: Job failed: %s", a.detail)
	}
	return a
}

// whenMatches is artifacts:when and cache:when: on_success (default),
// on_failure or always.
func whenMatches(when string, succeeded bool) bool {
	switch when {
	case "always":
		return true
	case "on_failure":
		return !succeeded
	}
	return succeeded
}

// saveArtifacts keeps the job's artifacts and reads its dotenv reports.
func (r *run) saveArtifacts(j *jobState, dir string, lookup expand.Lookup, a *attemptResult, logf func(string, ...any)) error {
	art := j.job.Def.Artifacts
	dst := filepath.Join(r.pipeDir, "artifacts", fmt.Sprintf("%d-%s", j.index+1, slug(j.job.Name)))
	if err := os.RemoveAll(dst); err != nil { // an earlier attempt's
		return fmt.Errorf("artifacts: %w", err)
	}
	if err := os.RemoveAll(dst + expirySuffix); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	sel := workspace.Selection{
		Paths:     expandAll(art.Paths, lookup),
		Exclude:   expandAll(art.Exclude, lookup),
		Untracked: art.Untracked,
		Tracked:   r.snapshot.Tracked,
	}
	sel.Paths = append(sel.Paths, expandAll(art.Dotenv, lookup)...)
	if sel.Empty() {
		return nil
	}
	files, err := workspace.Collect(dir, sel, dst)
	if err != nil {
		return fmt.Errorf("artifacts:paths: %w", err)
	}
	if len(files) == 0 {
		// As GitLab: a warning, and the dependents run without artifacts.
		logf("WARNING: artifacts: no file matches %s; nothing uploaded", strings.Join(sel.Paths, ", "))
		return nil
	}
	logf("Uploaded artifacts: %d files", len(files))
	a.artifactsDir = dst
	if at := artifactsExpiry(art.ExpireIn, time.Now()); !at.IsZero() {
		if err := markExpiry(dst, at); err != nil {
			return fmt.Errorf("artifacts:expire_in: %w", err)
		}
		a.expireAt = at
		logf("Artifacts expire at %s", at.Format(time.RFC3339))
	}
	for _, name := range expandAll(art.Dotenv, lookup) {
		f, err := workspace.Open(dir, name)
		if err != nil {
			return fmt.Errorf("artifacts:reports:dotenv: %w", err)
		}
		vars, err := workspace.ParseDotenv(name, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("artifacts:reports:dotenv: %w", err)
		}
		a.dotenv = append(a.dotenv, vars...)
	}
	return nil
}

func expandAll(ss []string, lookup expand.Lookup) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = expand.Expand(s, lookup)
	}
	return out
}

// variables are the job's environment, lowest priority first: the
// pipeline's, the job's, the dotenv reports of its dependencies, the run's
// (pipeline variables win, as in GitLab), then what the engine knows of
// the run. Values are expanded (expand.Resolve).
func (r *run) variables(pj *ci.PlannedJob, dotenv []workspace.EnvVar, projectDir string, jobID int64) ([]expand.KV, error) {
	defs := make([]expand.Def, 0, len(r.plan.Variables)+len(pj.Variables)+len(dotenv)+3)
	for _, v := range r.plan.Variables {
		defs = append(defs, expand.Def{Name: v.Name, Value: v.Value, Raw: v.Raw})
	}
	for _, v := range pj.Variables {
		defs = append(defs, expand.Def{Name: v.Name, Value: v.Value, Raw: v.Raw})
	}
	for _, v := range dotenv {
		defs = append(defs, expand.Def{Name: v.Name, Value: v.Value, Raw: true})
	}
	for _, v := range r.plan.Run {
		defs = append(defs, expand.Def{Name: v.Name, Value: v.Value, Raw: v.Raw})
	}
	if r.opts.JobVariables != nil {
		for _, v := range r.opts.JobVariables(pj, jobID) {
			defs = append(defs, expand.Def{Name: v.Name, Value: v.Value, Raw: v.Raw})
		}
	}
	defs = append(defs,
		expand.Def{Name: "CI_PROJECT_DIR", Value: projectDir, Raw: true},
		expand.Def{Name: "CI_JOB_ID", Value: strconv.FormatInt(jobID, 10), Raw: true},
		expand.Def{Name: "CI_PIPELINE_ID", Value: strconv.FormatInt(r.id, 10), Raw: true},
	)
	return expand.Resolve(defs, nil)
}

// jobCache is one `cache:` entry of a job with its key worked out.
type jobCache struct {
	keys   []string // the key, then fallback keys
	policy string
	when   string
	sel    workspace.Selection
}

func (r *run) caches(pj *ci.PlannedJob, dir string, lookup expand.Lookup) ([]jobCache, error) {
	var out []jobCache
	for i, c := range pj.Def.Cache {
		var key string
		if len(c.KeyFiles) > 0 {
			k, err := workspace.FilesKey(dir, expandAll(c.KeyFiles, lookup), expand.Expand(c.KeyPrefix, lookup))
			if err != nil {
				return nil, fmt.Errorf("cache[%d]: %w", i, err)
			}
			key = k
		} else {
			key = strings.TrimSpace(expand.Expand(c.Key, lookup))
			if key == "" {
				key = "default"
			}
		}
		jc := jobCache{
			keys:   append([]string{key}, expandAll(c.Fallback, lookup)...),
			policy: c.Policy,
			when:   c.When,
			sel: workspace.Selection{
				Paths:     expandAll(c.Paths, lookup),
				Untracked: c.Untracked,
				Tracked:   r.snapshot.Tracked,
			},
		}
		out = append(out, jc)
	}
	return out, nil
}

// slug makes a job name safe for a folder name: "build 1/3" is "build-1-3".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "job"
	}
	return s
}
