// Package pipelines creates and runs a server's pipelines: a trigger
// (webhook, schedule, poll, API) becomes a plan of the project's commit,
// persisted in the store and run by the engine; the engine's events become
// job states, masked log files, live updates and notifications.
package pipelines

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/jobproc"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// ErrNoPipeline means the project's rules create no pipeline for a trigger.
var ErrNoPipeline = ci.ErrNoPipeline

// ErrUnknownRef means the branch or tag to run is not in the project's repository.
var ErrUnknownRef = errors.New("unknown ref")

// ErrConflict means a job cannot be retried or played in its state.
var ErrConflict = errors.New("conflict")

// ErrClosed (with ErrConflict) means the service is shutting down: it
// starts no pipeline run, which nothing would cancel or wait for.
var ErrClosed = errors.New("the server is shutting down")

// ErrRunning (with ErrConflict) means a job cannot be played or retried
// yet because its pipeline still runs; PipelineDone tells when it ends.
var ErrRunning = errors.New("still running")

// Service runs pipelines for the server.
type Service struct {
	Store   *store.Store
	Mirrors *mirror.Mirrors
	Logs    *joblog.Store
	// WorkDir holds the engine's working copies, artifacts and cache.
	WorkDir string
	// Executor is shell, docker, kubernetes or auto; Kubernetes configures
	// the kubernetes executor (and makes auto run jobs with an image in pods).
	Executor    string
	Kubernetes  *kubernetes.Options
	Concurrency int
	// OutputLimit is how many bytes of output each job may log (0: the
	// engine's default).
	OutputLimit int64
	// Notify receives pipeline and job events (may be nil).
	Notify func(notify.Event)
	// BaseURL is the server's public URL, for links in notifications.
	BaseURL string
	Logger  *slog.Logger
	// Updates tells live pages that a pipeline changed.
	Updates *Broker
	// RegistryHost is the embedded registry as jobs reach it (host:port),
	// for CI_REGISTRY and CI_REGISTRY_IMAGE; "" when there is none.
	RegistryHost string
	// JobFinished, when set, hears of every job that ends (environments
	// watch their stop jobs this way).
	JobFinished func(store.Job)
	// Server is this process's row in the store: the pipelines and jobs it
	// runs name it, so that other servers leave them alone while it lives.
	Server store.Server
	// PipelineDone, when set, hears that a pipeline's run in this server
	// ended: its jobs can be played and retried from then on.
	PipelineDone func(pipelineID int64)

	tokens  sync.Map // CI_JOB_TOKEN -> JobRef, while the pipeline runs
	mu      sync.Mutex
	running map[int64]*run
	closing bool // Shutdown began: no run starts
	wg      sync.WaitGroup
}

// Trigger is what starts a pipeline.
type Trigger struct {
	Source    string // push, merge_request_event, schedule, web, api, trigger
	Ref       string // branch or tag name
	Tag       bool
	SHA       string // empty: the ref's current commit
	BeforeSHA string
	Variables map[string]string
	// MergeRequest is set for merge request pipelines.
	MergeRequest *store.MergeRequest
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Create plans and starts a pipeline of project for t. A pipeline file with
// errors still gives a pipeline, failed with the file's errors, as GitLab
// does; rules that create no pipeline give ErrNoPipeline.
func (s *Service) Create(ctx context.Context, project store.Project, t Trigger) (store.Pipeline, error) {
	repo, err := s.Sync(ctx, project, t.commits()...)
	if err != nil {
		return store.Pipeline{}, err
	}
	if t.SHA == "" {
		rev := "refs/heads/" + t.Ref
		if t.Tag {
			rev = "refs/tags/" + t.Ref
		}
		if t.SHA, err = repo.Resolve(rev); err != nil {
			// The mirror was just synced: a rev it cannot resolve is not there.
			return store.Pipeline{}, fmt.Errorf("%w: %s is not in the repository of project %s", ErrUnknownRef, rev, project.Name)
		}
	}
	p := store.Pipeline{
		ProjectID: project.ID, Source: t.Source, Ref: t.Ref, Tag: t.Tag, SHA: t.SHA,
		BeforeSHA: t.BeforeSHA, Status: store.Created, Variables: t.Variables, MergeRequest: t.MergeRequest,
		ServerID: s.Server.ID,
	}
	// The commit is extracted once, for the plan and then for the jobs.
	snap, cfg, planErr := s.extract(ctx, project, repo, p.SHA)
	started := false
	defer func() {
		if snap != nil && !started {
			os.RemoveAll(snap.Dir)
		}
	}()
	var plan *ci.Plan
	if planErr == nil {
		plan, planErr = s.planConfig(ctx, project, repo, p, cfg)
	}
	if errors.Is(planErr, ci.ErrNoPipeline) {
		return store.Pipeline{}, planErr
	}
	// From here the pipeline exists: its rows are written even if the
	// request that asked for it goes away.
	ctx = context.WithoutCancel(ctx)
	p, err = s.Store.CreatePipeline(ctx, p)
	if err != nil {
		return store.Pipeline{}, err
	}
	if planErr != nil {
		p, err = s.Store.SetRunStatus(ctx, s.Server.ID, p.ID, store.Failed, planErr.Error())
		s.Updates.Publish(p.ID)
		return p, err
	}
	for _, pj := range plan.Jobs {
		_, err := s.Store.CreateJob(ctx, store.Job{
			PipelineID: p.ID, Name: pj.Name, Stage: pj.Stage, Status: store.Created,
			AllowFailure: pj.AllowFailure.Allowed || len(pj.AllowFailure.ExitCodes) > 0, When: string(pj.When), Attempt: 1,
		})
		if err != nil {
			s.failUnfinished(p.ID, err)
			s.Store.SetRunStatus(ctx, s.Server.ID, p.ID, store.Failed, err.Error())
			return p, err
		}
	}
	if err := s.start(project, p, repo, plan, engine.Options{Snapshot: snap}); err != nil {
		s.failUnfinished(p.ID, err)
		s.Store.SetRunStatus(context.WithoutCancel(ctx), s.Server.ID, p.ID, store.Failed, err.Error())
		s.Updates.Publish(p.ID)
		return p, err
	}
	started = true
	return p, nil
}

// commits are the commits a trigger names, which the mirror must hold.
func (t Trigger) commits() []string {
	if t.SHA == "" {
		return nil // a ref: its current commit is the remote's
	}
	shas := []string{t.SHA}
	if mr := t.MergeRequest; mr != nil && mr.TargetSHA != "" {
		shas = append(shas, mr.TargetSHA)
	}
	return shas
}

// Sync fetches the project's mirror (with the credentials it names),
// unless it holds every commit of want already.
func (s *Service) Sync(ctx context.Context, project store.Project, want ...string) (*gitinfo.Repo, error) {
	token, err := cloneToken(project)
	if err != nil {
		return nil, err
	}
	path, err := s.Mirrors.Sync(ctx, fmt.Sprintf("%d", project.ID), project.RepoURL, token, want...)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", project.Name, err)
	}
	return &gitinfo.Repo{Dir: path}, nil
}

// RepoAt is the project's mirror when it already holds commit sha (no
// fetch: re-planning a pipeline and page views stay local), else a synced
// one.
func (s *Service) RepoAt(ctx context.Context, project store.Project, sha string) (*gitinfo.Repo, error) {
	repo := &gitinfo.Repo{Dir: filepath.Join(s.Mirrors.Dir, fmt.Sprintf("%d.git", project.ID))}
	if _, err := repo.Resolve(sha); err == nil {
		return repo, nil
	}
	return s.Sync(ctx, project)
}

// cloneToken is the token the project's credentials reference names
// (env:SLIPWAY_GIT_<NAME>, a variable of the server), or "" for none.
func cloneToken(p store.Project) (string, error) {
	ref := p.CredentialsRef
	if ref == "" {
		return "", nil
	}
	name, ok := strings.CutPrefix(ref, "env:")
	if !ok || !strings.HasPrefix(name, "SLIPWAY_GIT_") {
		// Only variables meant for it: a project must not send, say, the
		// server's cloud keys to a repository URL of its choosing.
		return "", fmt.Errorf("project %s: credentials_ref %q: want env:SLIPWAY_GIT_<NAME>", p.Name, ref)
	}
	token := os.Getenv(name)
	if token == "" {
		return "", fmt.Errorf("project %s: credentials_ref: $%s is not set", p.Name, name)
	}
	if u, err := url.Parse(p.RepoURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("project %s: credentials need an http(s) repository URL", p.Name)
	}
	return token, nil
}

// pipelineFileOf is the project's pipeline file, relative to its root.
func pipelineFileOf(project store.Project) string {
	if project.PipelineFile == "" {
		return store.DefaultPipelineFile
	}
	return project.PipelineFile
}

// extract writes the tree of commit sha into the work folder and loads
// the pipeline file from it; the jobs' working copies come from the same
// snapshot. A snapshot is returned (to be removed) even when the file does
// not load.
func (s *Service) extract(ctx context.Context, project store.Project, repo *gitinfo.Repo, sha string) (*workspace.Snapshot, *ci.Config, error) {
	dir := filepath.Join(s.WorkDir, "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(dir, sha+"-")
	if err != nil {
		return nil, nil, err
	}
	snap, err := workspace.Extract(ctx, repo.Dir, sha, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cfg, err := workspace.LoadSnapshotPipeline(snap, pipelineFileOf(project))
	return snap, cfg, err
}

// plan loads the pipeline file of p's commit and plans it. It is
// deterministic, so a retry or a restart plans a pipeline again.
func (s *Service) plan(ctx context.Context, project store.Project, repo *gitinfo.Repo, p store.Pipeline) (*ci.Plan, error) {
	cfg, err := workspace.LoadPipeline(ctx, repo.Dir, p.SHA, pipelineFileOf(project))
	if err != nil {
		return nil, err
	}
	return s.planConfig(ctx, project, repo, p, cfg)
}

// planConfig plans p with its loaded pipeline file.
func (s *Service) planConfig(ctx context.Context, project store.Project, repo *gitinfo.Repo, p store.Pipeline, cfg *ci.Config) (*ci.Plan, error) {
	commit, err := repo.Commit(p.SHA)
	if err != nil {
		return nil, err
	}
	info := ci.PipelineInfo{
		// No pipeline ID or number here: planning again (retry, graph)
		// must give the same plan; the run adds them (serverVariables).
		Source: p.Source, SHA: p.SHA, BeforeSHA: p.BeforeSHA,
		Message: commit.Message, Timestamp: commit.Timestamp, Author: commit.Author,
		DefaultBranch: project.DefaultBranch, ProjectName: project.Name, ProjectPath: ProjectPath(project),
		ProjectURL: mirror.Redact(project.RepoURL), ServerURL: s.BaseURL,
	}
	pctx := ci.Context{CompareTo: func(base string) ([]string, error) { return repo.Changed(base, p.SHA) }}
	switch {
	case p.Tag:
		info.Tag = p.Ref
	case p.MergeRequest != nil:
		mr := p.MergeRequest
		info.MergeRequest = &ci.MergeRequestInfo{
			IID: mr.IID, Title: mr.Title, SourceBranch: mr.SourceBranch, TargetBranch: mr.TargetBranch,
			SourceSHA: firstOf(mr.SourceSHA, p.SHA), TargetSHA: mr.TargetSHA, DiffBaseSHA: mr.DiffBaseSHA,
			Labels: mr.Labels, ProjectPath: info.ProjectPath,
		}
		if info.MergeRequest.DiffBaseSHA == "" && mr.TargetSHA != "" {
			info.MergeRequest.DiffBaseSHA, _ = repo.MergeBase(mr.TargetSHA, p.SHA)
		}
		if base := info.MergeRequest.DiffBaseSHA; base != "" {
			if pctx.Changed, err = repo.Changed(base, p.SHA); err == nil {
				pctx.ChangesKnown = true
			}
		}
	default:
		info.Branch = p.Ref
		if p.BeforeSHA != "" && strings.Trim(p.BeforeSHA, "0") != "" {
			if pctx.Changed, err = repo.Changed(p.BeforeSHA, p.SHA); err == nil {
				pctx.ChangesKnown = true
			}
		}
	}
	pctx.Predefined = ci.Predefined(info)
	if cfg.UsesExists() {
		if pctx.Files, err = repo.Files(p.SHA); err != nil {
			return nil, err
		}
	}
	vars, err := s.Store.ListVariables(ctx, project.ID)
	if err != nil {
		return nil, err
	}
	// Project variables, then the pipeline's own (which win).
	protected := p.Tag || (p.MergeRequest == nil && p.Ref == project.DefaultBranch)
	for _, v := range vars {
		if v.Protected && !protected {
			continue
		}
		pctx.Run = append(pctx.Run, ci.Variable{Name: v.Name, Value: v.Value, Raw: true})
	}
	for _, k := range sortedKeys(p.Variables) {
		pctx.Run = pctx.Run.With(ci.Variables{{Name: k, Value: p.Variables[k]}})
	}
	return ci.NewPlan(cfg, pctx)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ProjectPath is the repository's path on its forge (owner/name), from its
// URL, or local/<project name>.
func ProjectPath(p store.Project) string {
	u, err := url.Parse(p.RepoURL)
	if err != nil || u.Host == "" {
		return "local/" + p.Name
	}
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

// start runs the engine for a pipeline in the background; once Shutdown
// began it runs nothing (ErrClosed).
func (s *Service) start(project store.Project, p store.Pipeline, repo *gitinfo.Repo, plan *ci.Plan, opts engine.Options) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		cancel()
		return fmt.Errorf("pipeline %d: %w", p.ID, ErrClosed)
	}
	if s.running == nil {
		s.running = map[int64]*run{}
	}
	r := s.running[p.ID]
	if r == nil {
		r = &run{}
		s.running[p.ID] = r
	}
	r.cancel = cancel
	if r.canceled { // while it was claimed: it starts to end at once
		cancel()
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if opts.Snapshot != nil { // the engine removes it too, unless it stops early
			defer os.RemoveAll(opts.Snapshot.Dir)
		}
		defer func() {
			s.mu.Lock()
			delete(s.running, p.ID)
			s.mu.Unlock()
			cancel()
			if s.PipelineDone != nil {
				s.PipelineDone(p.ID)
			}
		}()
		if err := s.run(ctx, project, p, repo, plan, opts); err != nil {
			status, reason, msg := store.Failed, engine.RunnerSystemFailure, err.Error()
			if ctx.Err() != nil { // canceled before the engine ran it
				status, reason, msg = store.Canceled, "", "canceled before it started"
			} else {
				s.log().Error("pipeline failed to run", "pipeline", p.ID, "err", err)
			}
			s.endUnfinished(p.ID, store.JobResult{Status: status, FailureReason: reason, Error: msg})
			if _, serr := s.Store.SetRunStatus(context.Background(), s.Server.ID, p.ID, status, msg); serr != nil {
				s.log().Error("recording pipeline end", "pipeline", p.ID, "err", serr)
			}
			s.Updates.Publish(p.ID)
		}
	}()
	return nil
}

// run runs a plan and records what happens.
func (s *Service) run(ctx context.Context, project store.Project, p store.Pipeline, repo *gitinfo.Repo, plan *ci.Plan, opts engine.Options) error {
	vars, err := s.Store.ListVariables(ctx, project.ID)
	if err != nil {
		return err
	}
	masked := vars.MaskedValues()
	jobs, err := s.Store.ListJobs(ctx, p.ID)
	if err != nil {
		return err
	}
	ids := map[string]int64{}
	for _, j := range Latest(jobs) {
		ids[j.Name] = j.ID
	}
	executorName := s.Executor
	if project.Executor != "" {
		executorName = project.Executor
	}
	pick, err := byname.ForConfig(ctx, executorName, byname.Config{Kubernetes: s.Kubernetes}, plan, nil)
	if err != nil {
		return err
	}
	rec := &recorder{s: s, project: project, pipeline: p, ids: ids, pick: pick, plan: plan}
	rec.setSecrets(masked)
	// Each job attempt gets a token of its own (CI_JOB_TOKEN), valid while
	// the pipeline runs: it lets that job, and only it, call back
	// (slipway env deploy, registry pushes).
	var tokens []string
	defer func() {
		for _, t := range tokens {
			s.tokens.Delete(t)
		}
	}()
	var tokensMu sync.Mutex
	opts.JobVariables = func(pj *ci.PlannedJob, _ int64) ci.Variables {
		token := newToken()
		s.tokens.Store(token, JobRef{PipelineID: p.ID, Job: pj.Name})
		tokensMu.Lock()
		tokens = append(tokens, token)
		tokensMu.Unlock()
		rec.addSecret(token)
		return s.serverVariables(project, p, token)
	}
	opts.Repo, opts.Commit, opts.WorkDir = repo.Dir, p.SHA, s.WorkDir
	opts.ExecutorFor, opts.Concurrency, opts.PipelineID = pick.Executor, s.Concurrency, p.ID
	opts.OutputLimit = s.OutputLimit
	opts.JobIDs = ids
	opts.Events = rec.handle
	res, err := engine.Run(ctx, plan, opts)
	if err != nil {
		return err
	}
	return s.saveResults(p.ID, res)
}

// serverVariables tell jobs how to reach the server and its registry.
func (s *Service) serverVariables(project store.Project, p store.Pipeline, token string) ci.Variables {
	vars := ci.Variables{
		{Name: "CI_JOB_TOKEN", Value: token, Raw: true},
		{Name: "SLIPWAY_SERVER", Value: s.BaseURL, Raw: true},
		{Name: "CI_PIPELINE_IID", Value: fmt.Sprint(p.Number), Raw: true},
	}
	if s.BaseURL != "" {
		vars = append(vars, ci.Variable{Name: "CI_PIPELINE_URL", Value: fmt.Sprintf("%s/pipelines/%d", s.BaseURL, p.ID), Raw: true})
	}
	if s.RegistryHost != "" {
		vars = append(vars,
			ci.Variable{Name: "CI_REGISTRY", Value: s.RegistryHost, Raw: true},
			ci.Variable{Name: "CI_REGISTRY_IMAGE", Value: s.RegistryHost + "/" + RegistryNamespace(project), Raw: true},
			ci.Variable{Name: "CI_REGISTRY_USER", Value: "slipway-ci-token", Raw: true},
			ci.Variable{Name: "CI_REGISTRY_PASSWORD", Value: token, Raw: true},
		)
	}
	return vars
}

// RegistryNamespace is where a project's images live in the embedded
// registry (CI_REGISTRY_IMAGE), and what its job tokens may push to.
func RegistryNamespace(project store.Project) string { return strings.ToLower(project.Name) }

// JobRef names the job a CI_JOB_TOKEN was given to.
type JobRef struct {
	PipelineID int64
	Job        string
}

// JobOfToken says which job of a running pipeline a CI_JOB_TOKEN belongs to.
func (s *Service) JobOfToken(token string) (JobRef, bool) {
	if token == "" {
		return JobRef{}, false
	}
	ref, ok := s.tokens.Load(token)
	if !ok {
		return JobRef{}, false
	}
	return ref.(JobRef), true
}

func newToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// failUnfinished ends the jobs of a pipeline that could not run (no
// executor, no commit): failed with runner_system_failure, so they can be
// retried once the cause is fixed.
func (s *Service) failUnfinished(pipelineID int64, cause error) {
	s.endUnfinished(pipelineID, store.JobResult{Status: store.Failed, FailureReason: engine.RunnerSystemFailure, Error: cause.Error()})
}

// endUnfinished ends the jobs of a pipeline that did not finish as end says.
func (s *Service) endUnfinished(pipelineID int64, end store.JobResult) {
	ctx := context.Background()
	jobs, err := s.Store.ListJobs(ctx, pipelineID)
	if err != nil {
		return
	}
	for _, j := range Latest(jobs) {
		if j.Status == store.Created || j.Status == store.Pending || j.Status == store.Running {
			s.Store.FinishJob(ctx, j.ID, end)
		}
	}
}

// resultsPath keeps a pipeline's engine results (artifacts folders,
// dotenv) so that a retry or a play can resume it.
func (s *Service) resultsPath(pipelineID int64) string {
	return filepath.Join(s.WorkDir, "pipelines", fmt.Sprint(pipelineID), "results.json")
}

func (s *Service) saveResults(pipelineID int64, res *engine.Result) error {
	data, err := json.Marshal(res.Jobs)
	if err != nil {
		return err
	}
	return os.WriteFile(s.resultsPath(pipelineID), data, 0o600)
}

func (s *Service) loadResults(pipelineID int64) ([]engine.JobResult, error) {
	data, err := os.ReadFile(s.resultsPath(pipelineID))
	if err != nil {
		return nil, err
	}
	var out []engine.JobResult
	return out, json.Unmarshal(data, &out)
}

// run is a pipeline this server runs, or has claimed to run (cancel is
// nil until it starts).
type run struct {
	cancel   context.CancelFunc
	canceled bool
}

// stop cancels r once; a run not started yet ends as soon as it starts.
// s.mu is held.
func (r *run) stop() bool {
	if r.canceled {
		return false
	}
	r.canceled = true
	if r.cancel != nil {
		r.cancel()
	}
	return true
}

// Cancel stops a pipeline this server runs; its running jobs end canceled.
// It reports false when the pipeline does not run here or was canceled
// already.
func (s *Service) Cancel(pipelineID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.running[pipelineID]
	return ok && r.stop()
}

// Running reports whether a pipeline runs in this server.
func (s *Service) Running(pipelineID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.running[pipelineID]
	return ok
}

// Retry runs a finished job again, and the jobs after it that had not run.
func (s *Service) Retry(ctx context.Context, jobID int64) error { return s.resume(ctx, jobID, false) }

// Play runs a manual job, and the jobs it held back.
func (s *Service) Play(ctx context.Context, jobID int64) error { return s.resume(ctx, jobID, true) }

// resume runs a job of a finished pipeline again (and the jobs of also,
// other names in the same pipeline), with the rest of the pipeline kept.
func (s *Service) resume(ctx context.Context, jobID int64, play bool, also ...string) (err error) {
	job, err := s.Store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	// Claim the pipeline before anything slow, so that two retries (a
	// webhook and a button) never run it twice.
	if ok, closing := s.claim(job.PipelineID); closing {
		return fmt.Errorf("%w: pipeline %d: %w", ErrConflict, job.PipelineID, ErrClosed)
	} else if !ok {
		return fmt.Errorf("%w: pipeline %d is %w", ErrConflict, job.PipelineID, ErrRunning)
	}
	started := false
	defer func() {
		if !started {
			s.release(job.PipelineID)
		}
	}()
	switch {
	case play && job.Status != store.Manual:
		return fmt.Errorf("%w: job %s is %s, not a manual job waiting to be played", ErrConflict, job.Name, job.Status)
	case !play && !(job.Status == store.Failed || job.Status == store.Success || job.Status == store.Canceled):
		return fmt.Errorf("%w: job %s is %s: only finished jobs can be retried", ErrConflict, job.Name, job.Status)
	}
	p, err := s.Store.GetPipeline(ctx, job.PipelineID)
	if err != nil {
		return err
	}
	project, err := s.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	repo, err := s.RepoAt(ctx, project, p.SHA)
	if err != nil {
		return err
	}
	plan, err := s.plan(ctx, project, repo, p)
	if err != nil {
		return fmt.Errorf("planning pipeline %d again: %w", p.ID, err)
	}
	// Claim it in the store too: another server may retry it at once.
	if _, err := s.Store.ClaimPipeline(ctx, s.Server.ID, p.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return err
	}
	s.Updates.Publish(p.ID)
	// From here the pipeline is ours and pending: if it cannot start, it
	// fails rather than stay pending for ever.
	defer func() {
		if !started {
			cause := fmt.Errorf("resuming pipeline %d: %w", p.ID, err)
			s.failUnfinished(p.ID, cause)
			s.Store.SetRunStatus(context.WithoutCancel(ctx), s.Server.ID, p.ID, store.Failed, cause.Error())
			s.Updates.Publish(p.ID)
		}
	}()
	rerun := map[string]bool{job.Name: true}
	for _, n := range also {
		rerun[n] = true
	}
	prior := map[string]engine.JobResult{}
	results, _ := s.loadResults(p.ID) // none after a crash: earlier jobs then count as they are stored
	byName := map[string]engine.JobResult{}
	for _, r := range results {
		byName[r.Name] = r
	}
	all, err := s.Store.ListJobs(ctx, p.ID)
	if err != nil {
		return err
	}
	jobs := Latest(all)
	for _, j := range jobs {
		keep := j.Status == store.Success || j.Status == store.Failed || (j.Status == store.Manual && !play)
		if rerun[j.Name] || !keep {
			continue
		}
		r, ok := byName[j.Name]
		if !ok {
			r = engine.JobResult{Name: j.Name, Stage: j.Stage, Status: engine.Status(j.Status), AllowFailure: j.AllowFailure}
		}
		prior[j.Name] = r
	}
	// Jobs that run again: a finished one gets a new attempt (its old row
	// stays, as a retried job does in GitLab), a waiting one starts over.
	for _, j := range jobs {
		if _, ok := prior[j.Name]; ok || plan.Job(j.Name) == nil {
			continue
		}
		if j.Status.Finished() {
			next := store.Job{PipelineID: p.ID, Name: j.Name, Stage: j.Stage, Status: store.Created,
				AllowFailure: j.AllowFailure, When: j.When, Attempt: j.Attempt + 1}
			if _, err := s.Store.CreateJob(ctx, next); err != nil {
				return err
			}
		} else if _, err := s.Store.SetJobStatus(ctx, j.ID, store.Created); err != nil {
			return err
		}
	}
	// The job runs now even when it is a manual one: retrying a manual job
	// plays it again, as in GitLab.
	opts := engine.Options{Prior: prior}
	for name := range rerun {
		opts.Manual = append(opts.Manual, name)
	}
	if err := s.start(project, p, repo, plan, opts); err != nil {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	started = true
	return nil
}

// claim marks a pipeline as running in this server, unless it already is
// or the service is shutting down (closing).
func (s *Service) claim(id int64) (ok, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false, true
	}
	if s.running == nil {
		s.running = map[int64]*run{}
	}
	if _, ok := s.running[id]; ok {
		return false, false
	}
	s.running[id] = &run{} // start gives it the run's cancel
	return true, false
}

func (s *Service) release(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, id)
}

// Recover runs when the server starts: the work of its own earlier
// processes (and of servers gone for longer than grace) is failed with
// reason, and its interrupted jobs retried where their retry:when allows
// runner_system_failure.
func (s *Service) Recover(ctx context.Context, grace time.Duration, reason string) error {
	// A killed server's shell jobs run on: end them before they are retried
	// beside themselves.
	if n := jobproc.KillOrphans(); n > 0 {
		s.log().Warn("killed the processes of jobs whose Slipway is gone", "processes", n)
	}
	// And its Kubernetes jobs' pods, before the jobs are failed or retried.
	if s.Kubernetes != nil {
		if err := kubernetes.Cleanup(ctx, *s.Kubernetes); err != nil {
			s.log().Warn("deleting the pods of jobs whose Slipway is gone", "err", err)
		}
	}
	return s.reap(ctx, store.Reap{Self: s.Server, Grace: grace, Restart: true, Reason: reason})
}

// Reap does what Recover does for servers whose heartbeat is older than
// grace: a server that died for good leaves nothing running for ever. It
// is idempotent and may run at any time, on any number of servers.
func (s *Service) Reap(ctx context.Context, grace time.Duration, reason string) error {
	return s.reap(ctx, store.Reap{Self: s.Server, Grace: grace, Reason: reason})
}

func (s *Service) reap(ctx context.Context, r store.Reap) error {
	reaped, err := s.Store.FailOrphanedWork(ctx, r)
	if err != nil {
		return err
	}
	for _, srv := range reaped.Servers {
		s.log().Warn("server is gone; failing its work", "server", srv.Name, "id", srv.ID, "seen", srv.SeenAt)
	}
	for _, id := range reaped.Unstarted {
		s.log().Warn("pipeline was created by a server that is gone", "pipeline", id)
		s.Updates.Publish(id)
	}
	// Retry, per pipeline, all its interrupted jobs that ask for it, at once.
	retry := map[int64][]store.Job{}
	var order []int64
	for _, j := range reaped.Jobs {
		s.log().Warn("job was running on a server that is gone", "job", j.ID, "name", j.Name, "pipeline", j.PipelineID, "runner", j.Runner)
		s.Updates.Publish(j.PipelineID)
		if s.retriesSystemFailure(ctx, j) {
			if retry[j.PipelineID] == nil {
				order = append(order, j.PipelineID)
			}
			retry[j.PipelineID] = append(retry[j.PipelineID], j)
		}
	}
	for _, id := range order {
		jobs := retry[id]
		var others []string
		for _, j := range jobs[1:] {
			others = append(others, j.Name)
		}
		if err := s.resume(ctx, jobs[0].ID, false, others...); err != nil {
			s.log().Error("retrying interrupted jobs", "pipeline", id, "err", err)
		}
	}
	return nil
}

// retriesSystemFailure: does the job's retry:when include
// runner_system_failure (or always) with attempts left?
func (s *Service) retriesSystemFailure(ctx context.Context, j store.Job) bool {
	p, err := s.Store.GetPipeline(ctx, j.PipelineID)
	if err != nil {
		return false
	}
	project, err := s.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return false
	}
	repo, err := s.RepoAt(ctx, project, p.SHA)
	if err != nil {
		return false
	}
	plan, err := s.plan(ctx, project, repo, p)
	if err != nil {
		return false
	}
	pj := plan.Job(j.Name)
	if pj == nil || pj.Def.Retry.Max < max(j.Attempt, 1) {
		return false
	}
	when := pj.Def.Retry.When
	if len(when) == 0 {
		return true
	}
	for _, w := range when {
		if w == "always" || w == engine.RunnerSystemFailure {
			return true
		}
	}
	return false
}

// Latest keeps the last attempt of each job (a retry adds a row), in
// the order of first appearance.
func Latest(jobs []store.Job) []store.Job {
	last := map[string]int{}
	var out []store.Job
	for _, j := range jobs {
		if i, ok := last[j.Name]; ok {
			out[i] = j
			continue
		}
		last[j.Name] = len(out)
		out = append(out, j)
	}
	return out
}

// Wait waits for every running pipeline to end (after Shutdown cancels them).
func (s *Service) Wait() { s.wg.Wait() }

// CancelAll cancels every pipeline this server runs, without waiting: the
// server learnt that the others took it for dead and failed its work.
func (s *Service) CancelAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.running {
		r.stop()
	}
}

// Shutdown cancels every running pipeline and waits for them.
func (s *Service) Shutdown() {
	s.mu.Lock()
	s.closing = true
	for _, r := range s.running {
		r.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}
