package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// PipelineFile is the file each component's pipeline is read from.
const PipelineFile = ".gitlab-ci.yml"

// PipelineSource is CI_PIPELINE_SOURCE of a component's pipeline: GitLab's
// name for a pipeline another pipeline started.
const PipelineSource = "pipeline"

// canceled is why components did not start after a cancel.
const canceled = "the release was canceled"

// Options say how to run a plan.
type Options struct {
	// DryRun passes RELEASE_DRY_RUN=true and tags nothing.
	DryRun bool
	// Parallel is how many components of one group run at once; 0 means 2.
	Parallel int
	// Executor is shell, docker, kubernetes or auto (see byname); "" means shell.
	Executor string
	// WorkDir holds each component's pipeline work folder, log and report.
	WorkDir string
	// Variables are added to every component's pipeline; the release's own
	// variables win over them.
	Variables ci.Variables
	// Progress receives a line when a component starts and ends.
	Progress io.Writer
	// Tags says which versions a real run tags.
	Tags Tags
}

// Run runs the plan group by group. A group starts once the previous one
// succeeded; the components of a group run side by side, and a failure lets
// the rest of its group finish but starts no later group. After a group
// succeeded, a real run tags each of its repositories with the component's
// version. The error is for a release that could not run at all; failed
// components are in the report.
func Run(ctx context.Context, plan *Plan, opts Options) (*Report, error) {
	if opts.WorkDir == "" {
		return nil, errors.New("release: WorkDir is required")
	}
	// The report's paths must mean the same from any folder.
	workDir, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	opts.WorkDir = workDir
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	if opts.Executor == "" {
		opts.Executor = "shell"
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if !opts.DryRun {
		if err := CheckTags(plan, opts.Tags); err != nil {
			return nil, err
		}
	}
	r := &runner{plan: plan, opts: opts, report: plan.Report(opts.DryRun)}
	r.report.StartedAt = time.Now()
	stopped := ""
	for gi, group := range plan.Groups {
		if stopped == "" && ctx.Err() != nil {
			stopped = canceled
		}
		if stopped != "" {
			for _, t := range group {
				r.end(t, NotStarted, stopped)
			}
			continue
		}
		failed := r.runGroup(ctx, group)
		if len(failed) == 0 && !opts.DryRun && ctx.Err() == nil {
			failed = r.tagGroup(ctx, group)
		}
		if len(failed) > 0 && ctx.Err() == nil {
			stopped = fmt.Sprintf("group %d failed (%s)", gi+1, strings.Join(failed, ", "))
		}
	}
	r.report.DurationMS = time.Since(r.report.StartedAt).Milliseconds()
	r.report.Status = Success
	for _, c := range r.report.Components {
		switch {
		case c.Status == Failed:
			r.report.Status = Failed
		case (c.Status == Canceled || c.Status == NotStarted) && r.report.Status != Failed:
			// Without a failure, only a cancel leaves a component
			// not started: the release did not succeed.
			r.report.Status = Canceled
		}
	}
	return r.report, nil
}

type runner struct {
	plan   *Plan
	opts   Options
	mu     sync.Mutex // report and Progress
	report *Report
}

// runGroup runs the pipelines of one group, at most Parallel at once, and
// returns the names of the components that did not succeed.
func (r *runner) runGroup(ctx context.Context, group []*Target) []string {
	slots := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, t := range group {
		// Taking the slot here starts the components in the group's order.
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r.runComponent(ctx, t)
		})
	}
	wg.Wait()
	var failed []string
	for _, t := range group {
		if s := r.report.Component(t.Name).Status; s != Success && s != Skipped {
			failed = append(failed, t.Name)
		}
	}
	return failed
}

// tagAndPush makes the annotated tag of t's version on its commit in the
// mirror and pushes it to the component's repository, as act says.
func (r *runner) tagAndPush(ctx context.Context, t *Target, act tagging) error {
	if act == tagNone || act == tagKeep {
		return nil
	}
	m := r.plan.Manifest
	msg := fmt.Sprintf("%s %s: %s %s", m.Name, m.Version, t.Name, t.Version)
	move := act == tagMove
	if err := r.plan.mirrors.Tag(ctx, t.mirrorName, t.Version, t.Commit, msg, move); err != nil {
		return err
	}
	ref := "refs/tags/" + t.Version
	spec := ref + ":" + ref
	if move {
		spec = "+" + spec
	}
	return r.plan.mirrors.Push(ctx, t.mirrorName, t.repoURL, "", spec)
}

// tagGroup tags the repositories of a group that succeeded and returns the
// components whose tag could not be made or pushed.
func (r *runner) tagGroup(ctx context.Context, group []*Target) []string {
	var failed []string
	for _, t := range group {
		act := r.opts.Tags.action(t)
		err := r.tagAndPush(ctx, t, act)
		r.mu.Lock()
		c := r.report.Component(t.Name)
		switch {
		case err != nil:
			c.Status, c.Reason = Failed, "tagging: "+err.Error()
			failed = append(failed, t.Name)
		case act != tagNone:
			c.Tag, c.TagMoved = t.Version, act == tagMove
		}
		r.mu.Unlock()
		switch {
		case err != nil:
			r.progress(t, "%s", c.Reason)
		case act == tagNone:
			r.progress(t, "not tagged: %s is a pre-release version; built %s", t.Version, short(t.Commit))
		case act == tagKeep:
			r.progress(t, "tag %s was already on %s in %s", t.Version, short(t.Commit), t.Repo)
		case act == tagMove:
			r.progress(t, "moved tag %s to %s, pushed to %s", t.Version, short(t.Commit), t.Repo)
		default:
			r.progress(t, "tagged %s on %s, pushed to %s", t.Version, short(t.Commit), t.Repo)
		}
	}
	return failed
}

func (r *runner) progress(t *Target, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.opts.Progress, "[group %d] %s: %s\n", t.Group, t.Name, fmt.Sprintf(format, args...))
}

// end records how a component ended.
func (r *runner) end(t *Target, status Status, reason string) {
	r.mu.Lock()
	c := r.report.Component(t.Name)
	c.Status, c.Reason = status, reason
	took := ""
	if !c.StartedAt.IsZero() {
		c.FinishedAt = time.Now()
		c.DurationMS = c.FinishedAt.Sub(c.StartedAt).Milliseconds()
		took = " in " + (time.Duration(c.DurationMS) * time.Millisecond).String()
	}
	log := c.Log
	r.mu.Unlock()
	switch {
	case status == Failed && log != "":
		r.progress(t, "%s%s: %s; its log: %s", status, took, reason, log)
	case reason != "":
		r.progress(t, "%s%s: %s", status, took, reason)
	default:
		r.progress(t, "%s%s", status, took)
	}
}

// runComponent runs the pipeline of one component and records its end.
func (r *runner) runComponent(ctx context.Context, t *Target) {
	if ctx.Err() != nil {
		r.end(t, NotStarted, canceled)
		return
	}
	dir := filepath.Join(r.opts.WorkDir, componentDir(t.Name))
	logPath, reportPath := filepath.Join(dir, "pipeline.log"), filepath.Join(dir, "pipeline.json")
	r.mu.Lock()
	c := r.report.Component(t.Name)
	c.StartedAt, c.Log = time.Now(), logPath
	r.mu.Unlock()
	r.progress(t, "started %s at %s", t.Ref, short(t.Commit))

	res, err := r.pipeline(ctx, t, dir, logPath)
	switch {
	case errors.Is(err, ci.ErrNoPipeline):
		r.end(t, Skipped, err.Error())
		return
	case err != nil:
		r.end(t, Failed, err.Error())
		return
	}
	if err := writeJSON(reportPath, res); err != nil {
		r.end(t, Failed, err.Error())
		return
	}
	r.mu.Lock()
	c.PipelineReport = reportPath
	r.mu.Unlock()
	switch res.Status {
	case engine.Success:
		r.end(t, Success, "")
	case engine.Canceled:
		r.end(t, Canceled, "pipeline canceled")
	case engine.Manual:
		r.end(t, Failed, "pipeline blocked by a manual job")
	default:
		r.end(t, Failed, "pipeline "+string(res.Status)+failedJobs(res))
	}
}

// componentDir is the folder of a component's run: its name when that is
// a slug already, else its slug and a hash of the name, so that lib.core
// and lib-core, which may run side by side, never share one.
func componentDir(name string) string {
	if s := slug.Label(name); s == name {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	return slug.Label(name) + "-" + hex.EncodeToString(sum[:4])
}

// failedJobs names the jobs that failed a pipeline.
func failedJobs(res *engine.Result) string {
	var names []string
	for _, j := range res.Jobs {
		if j.Status == engine.Failed && !j.AllowFailure {
			names = append(names, j.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ") + " failed"
}

// pipeline plans and runs a component's own pipeline with the release's
// variables; its job logs go to logPath.
func (r *runner) pipeline(ctx context.Context, t *Target, dir, logPath string) (*engine.Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	plan, err := r.planPipeline(ctx, t)
	if err != nil {
		fmt.Fprintln(log, err)
		return nil, err
	}
	pick, err := byname.For(ctx, r.opts.Executor, plan, log)
	if err != nil {
		return nil, err
	}
	printer := engine.NewPrinter(log, plan)
	// A release's pipelines run long and side by side: say when each
	// reaches a stage (its first job starts). The engine hands events
	// over one at a time.
	reached := map[string]bool{}
	return engine.Run(ctx, plan, engine.Options{
		Repo: t.Mirror, Commit: t.Commit, WorkDir: filepath.Join(dir, "work"),
		ExecutorFor: pick.Executor, Events: func(e engine.Event) {
			printer.Handle(e)
			if e.Kind == engine.JobStarted && !reached[e.Stage] {
				reached[e.Stage] = true
				r.progress(t, "stage %s", e.Stage)
			}
		},
	})
}

// planPipeline loads the component's pipeline file at its commit and plans
// it for a pipeline of its ref.
func (r *runner) planPipeline(ctx context.Context, t *Target) (*ci.Plan, error) {
	cfg, err := workspace.LoadPipeline(ctx, t.Mirror, t.Commit, PipelineFile)
	if err != nil {
		return nil, err
	}
	repo := &gitinfo.Repo{Dir: t.Mirror}
	commit, err := repo.Commit(t.Commit)
	if err != nil {
		return nil, err
	}
	info := ci.PipelineInfo{
		Source: PipelineSource, SHA: t.Commit, Branch: t.Ref,
		Message: commit.Message, Timestamp: commit.Timestamp, Author: commit.Author,
		DefaultBranch: t.defaultBranch, ProjectName: t.Name, ProjectPath: projectPath(t), ProjectURL: t.Repo,
	}
	pctx := ci.Context{
		Predefined: ci.Predefined(info),
		Run:        r.opts.Variables.With(r.variables(t)),
		CompareTo:  func(base string) ([]string, error) { return repo.Changed(base, t.Commit) },
	}
	if cfg.UsesExists() {
		if pctx.Files, err = repo.Files(t.Commit); err != nil {
			return nil, err
		}
	}
	return ci.NewPlan(cfg, pctx)
}

// variables are what a component's pipeline knows of the release.
func (r *runner) variables(t *Target) ci.Variables {
	m := r.plan.Manifest
	var out ci.Variables
	for _, kv := range [][2]string{
		{"RELEASE_NAME", m.Name},
		{"RELEASE_VERSION", m.Version},
		{"RELEASE_DRY_RUN", strconv.FormatBool(r.opts.DryRun)},
		{"COMPONENT_NAME", t.Name},
		{"COMPONENT_VERSION", t.Version},
	} {
		out = append(out, ci.Variable{Name: kv[0], Value: kv[1], Raw: true})
	}
	return out
}

// projectPath is CI_PROJECT_PATH: owner/name from the repository URL, or
// local/<name> for a local repository.
func projectPath(t *Target) string {
	u, err := url.Parse(t.repoURL)
	if err != nil || u.Host == "" {
		return "local/" + t.Name
	}
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
