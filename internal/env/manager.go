// Package env is the lifecycle of environments on a Slipway server: a
// deploy job deploys one (compose services on the Docker host, behind the
// proxy), and a merge request merged or closed, a deleted branch, an expired
// auto_stop_in or a person stops it by running its on_stop job, whose
// `slipway env stop` tears everything down.
package env

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/store"
)

// TagDeleter removes a tag from the embedded registry.
type TagDeleter interface {
	DeleteTag(ctx context.Context, repo, tag string) error
}

// Host runs environments elsewhere than on the Docker engine;
// *kubehost.Host (a namespace each on a cluster) is one.
type Host interface {
	Deploy(ctx context.Context, spec dockerhost.Spec) (dockerhost.Status, error)
	Teardown(ctx context.Context, env string) error
	Reroute(ctx context.Context, env string) error
}

// Manager runs environments for a server.
type Manager struct {
	Store    *store.Store
	Deployer *dockerhost.Deployer
	// Host, when set, runs the environments instead of Deployer (the
	// server's environments.target: kubernetes).
	Host  Host
	Pipes *pipelines.Service
	// Registry and RegistryHost: image tags of a stopped environment that
	// live in the embedded registry (host:port) are deleted from it.
	Registry     TagDeleter
	RegistryHost string
	// Installation is the store's installation id: it keys the
	// environment's containers, network and volumes on the Docker engine,
	// which other installations (another server, a second test run) may
	// share, and whose projects and environments have the same ids and
	// slugs as ours.
	Installation string
	// InstalledAt is when the installation got its id: an environment
	// deployed last before then runs under the key without it, which its
	// next deploy or its teardown removes.
	InstalledAt time.Time
	Logger      *slog.Logger
	// Notify, when set, tells the forge where a deployed environment
	// answers: a commit status on the deployed commit whose target URL is
	// the environment's (GitHub and GitLab show it on the merge request).
	Notify func(notify.Event)
	// URLOf is where people open a hostname: the proxy's scheme and port
	// (http://host:8081/); http://host/ when nil.
	URLOf func(host string) string
}

// host is where the environments run.
func (m *Manager) host() Host {
	if m.Host != nil {
		return m.Host
	}
	return m.Deployer
}

func (m *Manager) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// DeployRequest is what a deploy job sends: its pipeline (from its job
// token), its name, the Compose file and the variables to read it with.
type DeployRequest struct {
	PipelineID  int64             `json:"-"`
	Job         string            `json:"job"`
	ComposeName string            `json:"compose_name"`
	Compose     []byte            `json:"compose"`
	Vars        map[string]string `json:"vars"`
}

// DeployResult is the deployed environment and where its services answer.
type DeployResult struct {
	Environment store.Environment `json:"environment"`
	Services    []ServiceURL      `json:"services"`
}

// ServiceURL is one exposed service.
type ServiceURL struct {
	Name string `json:"name"`
	Host string `json:"host,omitempty"`
	// URL opens Host through the proxy, with its port when not the
	// scheme's own.
	URL  string `json:"url,omitempty"`
	Addr string `json:"addr,omitempty"`
}

// Deploy deploys the environment of a pipeline's job. The job's
// `environment:` (name, url, on_stop, auto_stop_in, tier) comes from the
// pipeline's plan, never from the request.
func (m *Manager) Deploy(ctx context.Context, req DeployRequest) (DeployResult, error) {
	p, err := m.Store.GetPipeline(ctx, req.PipelineID)
	if err != nil {
		return DeployResult{}, err
	}
	pj, err := m.Pipes.PlannedJob(ctx, p.ID, req.Job)
	if err != nil {
		return DeployResult{}, err
	}
	def := pj.Def.Environment
	if def == nil || def.Action != "start" {
		return DeployResult{}, fmt.Errorf("job %s has no environment to start (environment: name, action: start)", req.Job)
	}
	name := variable(pj.Variables, "CI_ENVIRONMENT_NAME")
	envSlug := slug.Environment(name)
	spec := dockerhost.Spec{Env: m.HostKey(p.ProjectID, envSlug), HostSlug: envSlug, RefSlug: slug.Ref(p.Ref), Name: name, Vars: map[string]string{
		"CI_ENVIRONMENT_NAME": name, "CI_ENVIRONMENT_SLUG": envSlug,
		"CI_ENVIRONMENT_URL": variable(pj.Variables, "CI_ENVIRONMENT_URL"),
		"CI_COMMIT_REF_NAME": p.Ref, "CI_COMMIT_REF_SLUG": slug.Ref(p.Ref), "CI_COMMIT_SHA": p.SHA,
	}}
	vars := map[string]string{}
	for k, v := range req.Vars {
		vars[k] = v
	}
	for k, v := range spec.Vars {
		vars[k] = v
	}
	envDef, err := compose.Parse(ctx, req.ComposeName, req.Compose, vars)
	if err != nil {
		return DeployResult{}, invalidCompose{err}
	}
	spec.Services = envDef.Services

	before := ""
	if prev, err := m.Store.GetEnvironmentByName(ctx, p.ProjectID, name); err == nil {
		before = prev.State
	}
	// Deploying until its routes answer: available only once it serves
	// (one that is available already stays so, its old version serves).
	e, err := m.Store.UpsertEnvironment(ctx, store.Environment{
		ProjectID: p.ProjectID, Name: name, Slug: envSlug, URL: spec.Vars["CI_ENVIRONMENT_URL"], State: store.EnvDeploying,
		Tier: variable(pj.Variables, "CI_ENVIRONMENT_TIER"), OnStopJob: def.OnStop, AutoStopAt: autoStopAt(def.AutoStopIn),
	})
	if err != nil {
		return DeployResult{}, err
	}
	legacy := m.legacyKey(ctx, e)
	jobID := m.jobID(ctx, p.ID, req.Job)
	images := map[string]string{}
	for _, s := range spec.Services {
		images[s.Name] = s.Image
	}
	st, deployErr := m.host().Deploy(ctx, spec)
	// What runs, by digest, with the tag it came from (teardown deletes it).
	for _, svc := range st.Services {
		if tagged, ok := images[svc.Name]; ok {
			images[svc.Name] = withDigest(tagged, svc.Image)
		}
	}
	d, err := m.Store.CreateDeployment(ctx, store.Deployment{
		EnvironmentID: e.ID, PipelineID: &p.ID, JobID: jobID, Ref: p.Ref, SHA: p.SHA, Status: store.DeployRunning, Images: images,
	})
	if err != nil {
		return DeployResult{}, err
	}
	if deployErr != nil {
		m.Store.SetDeploymentStatus(ctx, d.ID, store.DeployFailed)
		if e.State == store.EnvDeploying {
			// Nothing new runs: back to what it was, stopped when it is new.
			back := before
			if back == "" || back == store.EnvDeploying {
				back = store.EnvStopped
			}
			m.Store.SetEnvironmentState(ctx, e.ID, back)
		}
		return DeployResult{}, deployErr
	}
	if _, err := m.Store.SetDeploymentStatus(ctx, d.ID, store.DeploySuccess); err != nil {
		return DeployResult{}, err
	}
	// Deploy returned once the proxy routes to the new generation and its
	// hostnames answer.
	if _, err := m.Store.SetEnvironmentState(ctx, e.ID, store.EnvAvailable); err != nil {
		return DeployResult{}, err
	}
	if legacy != "" {
		// What an older Slipway deployed goes now that the new one runs.
		if err := m.host().Teardown(ctx, legacy); err != nil {
			m.log().Warn("removing what an older Slipway deployed", "environment", name, "key", legacy, "err", err)
		}
	}
	if e, err = m.Store.GetEnvironment(ctx, e.ID); err != nil {
		return DeployResult{}, err
	}
	m.announce(ctx, p, e)
	res := DeployResult{Environment: e}
	for _, svc := range st.Services {
		if svc.Port > 0 {
			res.Services = append(res.Services, ServiceURL{Name: svc.Name, Host: svc.Host, URL: m.urlOf(svc.Host), Addr: svc.Addr()})
		}
	}
	m.log().Info("environment deployed", "environment", name, "pipeline", p.ID, "generation", st.Generation)
	return res, nil
}

func (m *Manager) urlOf(host string) string {
	switch {
	case host == "":
		return ""
	case m.URLOf != nil:
		return m.URLOf(host)
	}
	return "http://" + host + "/"
}

// announce sends the environment's URL as a commit status of the deployed
// commit, named after the environment.
func (m *Manager) announce(ctx context.Context, p store.Pipeline, e store.Environment) {
	if m.Notify == nil || e.URL == "" {
		return
	}
	project, err := m.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return
	}
	ev := notify.Event{
		Kind: notify.KindJob, Status: notify.Success, Time: time.Now().UTC(),
		Project:  notify.Project{Name: project.Name, Repo: pipelines.ProjectPath(project)},
		Pipeline: notify.Pipeline{ID: p.ID, Source: p.Source},
		Job:      &notify.Job{Name: "environment " + e.Name, URL: e.URL},
		Ref:      p.Ref, Tag: p.Tag, SHA: p.SHA,
	}
	if p.MergeRequest != nil {
		ev.MergeRequestIID = p.MergeRequest.IID
	}
	m.Notify(ev)
}

// HostKey keys an environment's containers, network, volumes, routes and
// ports on the Docker host (the slipway.env label): environment slugs are
// unique per project only, and project ids per installation only.
func (m *Manager) HostKey(projectID int64, envSlug string) string {
	if m.Installation == "" {
		return fmt.Sprintf("p%d-%s", projectID, envSlug)
	}
	return fmt.Sprintf("%s-p%d-%s", m.Installation, projectID, envSlug)
}

// RestoreRoutes gives the proxy the routes of every environment that still
// has containers (available, stopping or stop_failed), for the server's
// start: the embedded proxy starts without routes, the containers ran on.
func (m *Manager) RestoreRoutes(ctx context.Context) {
	for _, state := range []string{store.EnvDeploying, store.EnvAvailable, store.EnvStopping, store.EnvStopFailed} {
		envs, err := m.Store.ListEnvironmentsInState(ctx, state)
		if err != nil {
			m.log().Error("restoring routes", "err", err)
			return
		}
		for _, e := range envs {
			keys := []string{m.HostKey(e.ProjectID, e.Slug)}
			if legacy := m.legacyKey(ctx, e); legacy != "" {
				keys = append(keys, legacy)
			}
			for _, key := range keys {
				if err := m.host().Reroute(ctx, key); err != nil {
					m.log().Error("restoring routes", "environment", e.Name, "err", err)
				}
			}
		}
	}
}

// legacyKey is the host key without the installation id that e runs
// under when a Slipway without installation ids deployed it last, "" when
// it does not.
func (m *Manager) legacyKey(ctx context.Context, e store.Environment) string {
	if m.Installation == "" || e.LastDeploymentID == nil {
		return ""
	}
	d, err := m.Store.GetDeployment(ctx, *e.LastDeploymentID)
	if err != nil || !d.CreatedAt.Before(m.InstalledAt) {
		return ""
	}
	return fmt.Sprintf("p%d-%s", e.ProjectID, e.Slug)
}

// withDigest joins the tag a compose file names with the digest it was
// pinned to: "host/repo:tag@sha256:...".
func withDigest(tagged, pinned string) string {
	_, digest, ok := strings.Cut(pinned, "@")
	if !ok || strings.Contains(tagged, "@") {
		return pinned
	}
	return tagged + "@" + digest
}

func autoStopAt(in string) *time.Time {
	if in == "" || in == "never" {
		return nil
	}
	d, err := ci.ParseDuration(in)
	if err != nil {
		return nil
	}
	t := time.Now().Add(d).UTC()
	return &t
}

func variable(vs ci.Variables, name string) string {
	v, _ := vs.Get(name)
	return v.Value
}

func (m *Manager) jobID(ctx context.Context, pipelineID int64, name string) *int64 {
	jobs, err := m.Store.ListJobs(ctx, pipelineID)
	if err != nil {
		return nil
	}
	for _, j := range pipelines.Latest(jobs) {
		if j.Name == name {
			return &j.ID
		}
	}
	return nil
}

// Stop stops an environment: it runs the environment's on_stop job (which
// calls `slipway env stop`), or tears it down at once when it has none.
// The environment is stopping from then on, in the database: when its
// deploy pipeline still runs, the stop job runs once that pipeline ends,
// started by whichever server's controller (ReconcileStops) sees it first.
func (m *Manager) Stop(ctx context.Context, e store.Environment) error {
	switch e.State {
	case store.EnvStopped:
		return nil
	case store.EnvStopping:
		// A stop is under way: look at where it is rather than start another.
	default:
		var err error
		if e, err = m.Store.BeginEnvironmentStop(ctx, e.ID); err != nil {
			return err
		}
	}
	return m.reconcileStop(ctx, e)
}

// ReconcileStops is the stop controller's pass: it moves every stopping
// environment on from what the database says, whoever asked for the stop
// and whatever happened since (a restart, a pipeline that ran on another
// server). It is level-based and idempotent: any server may run it at any
// moment, as often as it likes.
func (m *Manager) ReconcileStops(ctx context.Context) {
	envs, err := m.Store.ListEnvironmentsInState(ctx, store.EnvStopping)
	if err != nil {
		if ctx.Err() == nil {
			m.log().Error("listing stopping environments", "err", err)
		}
		return
	}
	for _, e := range envs {
		if err := m.reconcileStop(ctx, e); err != nil {
			m.log().Error("stopping environment", "environment", e.Name, "err", err)
		}
	}
}

// PipelineDone is the fast path of ReconcileStops: the stops that waited
// for pipeline id go on as soon as it ends here, not at the next pass.
func (m *Manager) PipelineDone(id int64) {
	ctx := context.Background()
	envs, err := m.Store.ListEnvironmentsInState(ctx, store.EnvStopping)
	if err != nil {
		return
	}
	for _, e := range envs {
		job, err := m.stopJob(ctx, e)
		if err != nil || job == nil || job.PipelineID != id {
			continue
		}
		if err := m.reconcileStop(ctx, e); err != nil {
			m.log().Error("stopping environment", "environment", e.Name, "err", err)
		}
	}
}

// reconcileStop moves one stopping environment on. While the pipeline of
// its stop job is active (the deploy pipeline still runs, or the stop job
// runs), it waits: that pipeline's server ends it, or the reaper fails it
// when that server is gone. Once the pipeline is over, the stop job
// attempt this stop started decides (success: stopped, else stop_failed);
// without one, the stop job is played or retried, or, when it cannot run,
// the environment is torn down directly.
func (m *Manager) reconcileStop(ctx context.Context, e store.Environment) error {
	job, err := m.stopJob(ctx, e)
	if err != nil {
		return fmt.Errorf("environment %s: its stop job: %w", e.Name, err)
	}
	if job == nil {
		return m.Teardown(ctx, e)
	}
	p, err := m.Store.GetPipeline(ctx, job.PipelineID)
	if err != nil {
		return fmt.Errorf("environment %s: %w", e.Name, err)
	}
	if p.Status.Active() {
		return nil
	}
	started := e.StopJobID != nil && *e.StopJobID == job.ID
	switch {
	case started && job.Status == store.Success:
		// The stop job ended well without `slipway env stop`, or its
		// teardown was lost: as in GitLab, a stop job that succeeds stops
		// the environment (a teardown of nothing is no error).
		return m.Teardown(ctx, e)
	case started && job.Status.Finished():
		// Failed, canceled, or lost with a server (failed or skipped by the
		// restart recovery): the environment keeps its resources.
		if _, err := m.Store.SetEnvironmentState(ctx, e.ID, store.EnvStopFailed); err != nil {
			return err
		}
		m.log().Warn("stop job did not succeed; the environment keeps its resources", "environment", e.Name, "job", job.ID, "status", job.Status)
		return nil
	case job.Status == store.Manual:
		return m.startStopJob(ctx, e, *job, m.Pipes.Play)
	case job.Status == store.Success || job.Status == store.Failed || job.Status == store.Canceled:
		// An attempt from before this stop (an earlier stop, or the stop
		// job ran by hand): it runs again.
		return m.startStopJob(ctx, e, *job, m.Pipes.Retry)
	default:
		// Skipped, or left waiting in a pipeline that ended: it cannot run.
		m.log().Warn("stop job cannot run; tearing down directly", "environment", e.Name, "job", job.ID, "status", job.Status)
		return m.Teardown(ctx, e)
	}
}

// startStopJob plays or retries a stop job and records the attempt that
// runs. A conflict means another pass, maybe on another server, started
// the pipeline first: the next pass looks again.
func (m *Manager) startStopJob(ctx context.Context, e store.Environment, job store.Job, start func(context.Context, int64) error) error {
	err := start(ctx, job.ID)
	if errors.Is(err, pipelines.ErrConflict) {
		m.log().Info("stop job's pipeline is busy; the environment stops once it is done", "environment", e.Name, "job", job.ID, "pipeline", job.PipelineID)
		return nil
	}
	if err != nil {
		// The stop job cannot run (its pipeline cannot be planned again,
		// say): tear down directly rather than leave an environment nobody
		// can stop.
		m.log().Warn("stop job cannot run; tearing down directly", "environment", e.Name, "job", job.ID, "err", err)
		return m.Teardown(ctx, e)
	}
	running, err := m.stopJob(ctx, e)
	if err != nil || running == nil {
		return fmt.Errorf("environment %s: the stop job that runs: %w", e.Name, err)
	}
	if err := m.Store.SetEnvironmentStopJob(ctx, e.ID, running.ID); err != nil {
		return err
	}
	m.log().Info("environment stopping", "environment", e.Name, "job", running.ID)
	return nil
}

// stopJob is the on_stop job of the pipeline that deployed e last.
func (m *Manager) stopJob(ctx context.Context, e store.Environment) (*store.Job, error) {
	if e.OnStopJob == "" || e.LastDeploymentID == nil {
		return nil, nil
	}
	d, err := m.Store.GetDeployment(ctx, *e.LastDeploymentID)
	if err != nil || d.PipelineID == nil {
		return nil, err
	}
	jobs, err := m.Store.ListJobs(ctx, *d.PipelineID)
	if err != nil {
		return nil, err
	}
	for _, j := range pipelines.Latest(jobs) {
		if j.Name == e.OnStopJob {
			return &j, nil
		}
	}
	return nil, nil
}

// StopFromJob is `slipway env stop` in a stop job: it tears down the
// environment the job names.
func (m *Manager) StopFromJob(ctx context.Context, pipelineID int64, job string) (store.Environment, error) {
	p, err := m.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return store.Environment{}, err
	}
	pj, err := m.Pipes.PlannedJob(ctx, pipelineID, job)
	if err != nil {
		return store.Environment{}, err
	}
	if pj.Def.Environment == nil || pj.Def.Environment.Action != "stop" {
		return store.Environment{}, fmt.Errorf("job %s is not a stop job (environment: action: stop)", job)
	}
	e, err := m.Store.GetEnvironmentByName(ctx, p.ProjectID, variable(pj.Variables, "CI_ENVIRONMENT_NAME"))
	if err != nil {
		return store.Environment{}, err
	}
	if err := m.Teardown(ctx, e); err != nil {
		return e, err
	}
	return m.Store.GetEnvironment(ctx, e.ID)
}

// Teardown removes everything of an environment: containers, network,
// volumes, routes and ports (the deployer), then the image tags it ran
// from the embedded registry; the environment is then stopped.
func (m *Manager) Teardown(ctx context.Context, e store.Environment) error {
	keys := []string{m.HostKey(e.ProjectID, e.Slug)}
	if legacy := m.legacyKey(ctx, e); legacy != "" {
		keys = append(keys, legacy)
	}
	var errs []error
	for _, key := range keys {
		if err := m.host().Teardown(ctx, key); err != nil && !errors.Is(err, dockerhost.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.Store.SetEnvironmentState(ctx, e.ID, store.EnvStopFailed)
		return fmt.Errorf("environment %s: %w", e.Name, err)
	}
	refs := m.deployedImages(ctx, e)
	inUse := m.imagesInUse(ctx, e, refs)
	var own []string
	for _, ref := range refs {
		if !inUse[ref] && m.isOwnImage(ref) {
			own = append(own, ref)
			m.deleteTag(ctx, ref)
		}
	}
	// Its pipeline built them on this engine: they go from the host too
	// (the deployer keeps any a container uses). A cluster's nodes
	// collect their unused images themselves.
	if m.Host == nil {
		if err := m.Deployer.RemoveImages(ctx, own...); err != nil {
			m.log().Warn("removing an environment's images from the host", "environment", e.Name, "err", err)
		}
	}
	if _, err := m.Store.SetEnvironmentState(ctx, e.ID, store.EnvStopped); err != nil {
		return err
	}
	m.log().Info("environment stopped", "environment", e.Name)
	return nil
}

// deployedImages are the images every deployment of e ran, not only the
// last one: a redeploy leaves the earlier ones on the host (a tag pushed
// again leaves its earlier image under its digest), and they are the
// environment's as much.
func (m *Manager) deployedImages(ctx context.Context, e store.Environment) []string {
	seen := map[string]bool{}
	var out []string
	add := func(images map[string]string) {
		for _, ref := range images {
			if !seen[ref] {
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	add(e.Images)
	const page = 100
	for offset := 0; ; offset += page {
		ds, err := m.Store.ListDeployments(ctx, e.ID, page, offset)
		if err != nil {
			m.log().Warn("listing an environment's deployments: only its last images are removed", "environment", e.Name, "err", err)
			break
		}
		for _, d := range ds {
			add(d.Images)
		}
		if len(ds) < page {
			break
		}
	}
	slices.Sort(out)
	return out
}

// imagesInUse are those of refs (the images of e) that other live
// environments of the project run under the same tag: their tags stay.
func (m *Manager) imagesInUse(ctx context.Context, e store.Environment, refs []string) map[string]bool {
	out := map[string]bool{}
	envs, err := m.Store.ListEnvironments(ctx, e.ProjectID)
	if err != nil {
		return out
	}
	for _, other := range envs {
		if other.ID == e.ID || other.State == store.EnvStopped {
			continue
		}
		for _, ref := range other.Images {
			tagged, _, _ := strings.Cut(ref, "@")
			for _, mine := range refs {
				if t, _, _ := strings.Cut(mine, "@"); t == tagged {
					out[mine] = true
				}
			}
		}
	}
	return out
}

// isOwnImage tells whether ref is in the embedded registry: the
// project's pipeline built and pushed it.
func (m *Manager) isOwnImage(ref string) bool {
	return m.RegistryHost != "" && strings.HasPrefix(ref, m.RegistryHost+"/")
}

// deleteTag deletes host/repo:tag@digest's tag when host is the embedded
// registry.
func (m *Manager) deleteTag(ctx context.Context, ref string) {
	if m.Registry == nil || !m.isOwnImage(ref) {
		return
	}
	rest := strings.TrimPrefix(ref, m.RegistryHost+"/")
	rest, _, _ = strings.Cut(rest, "@")
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return
	}
	repo, tag := rest[:i], rest[i+1:]
	if err := m.Registry.DeleteTag(ctx, repo, tag); err != nil {
		m.log().Warn("deleting an environment's image tag", "repo", repo, "tag", tag, "err", err)
	}
}

// JobFinished watches stop jobs: a failed one leaves stop_failed
// (resources kept, can be stopped again) the environment whose stop it
// carries out (its StopJobID), and no other: review environments share
// their stop job's name, and a stop that waits for its deploy pipeline has
// no attempt yet (ReconcileStops decides for those).
func (m *Manager) JobFinished(j store.Job) {
	if j.Status != store.Failed && j.Status != store.Canceled && j.Status != store.Skipped {
		return
	}
	ctx := context.Background()
	p, err := m.Store.GetPipeline(ctx, j.PipelineID)
	if err != nil {
		return
	}
	envs, err := m.Store.ListEnvironments(ctx, p.ProjectID)
	if err != nil {
		return
	}
	for _, e := range envs {
		if e.State == store.EnvStopping && e.StopJobID != nil && *e.StopJobID == j.ID {
			m.Store.SetEnvironmentState(ctx, e.ID, store.EnvStopFailed)
			m.log().Warn("stop job failed; the environment keeps its resources", "environment", e.Name, "job", j.ID)
		}
	}
}

// StopForRef stops the available environments a branch deployed last: its
// merge request was merged or closed, or the branch was deleted.
func (m *Manager) StopForRef(ctx context.Context, projectID int64, ref string) {
	envs, err := m.Store.ListEnvironments(ctx, projectID)
	if err != nil {
		m.log().Error("listing environments", "err", err)
		return
	}
	for _, e := range envs {
		if e.State != store.EnvAvailable && e.State != store.EnvDeploying && e.State != store.EnvStopFailed || e.LastDeploymentID == nil {
			continue
		}
		d, err := m.Store.GetDeployment(ctx, *e.LastDeploymentID)
		if err != nil || d.Ref != ref {
			continue
		}
		if err := m.Stop(ctx, e); err != nil {
			m.log().Error("stopping environment", "environment", e.Name, "err", err)
		}
	}
}

// StopExpired stops the environments whose auto_stop_in has passed.
func (m *Manager) StopExpired(ctx context.Context, now time.Time) {
	envs, err := m.Store.ListEnvironmentsToStop(ctx, now)
	if err != nil {
		return
	}
	for _, e := range envs {
		m.log().Info("auto_stop_in expired", "environment", e.Name)
		if err := m.Stop(ctx, e); err != nil {
			m.log().Error("auto-stopping environment", "environment", e.Name, "err", err)
		}
	}
}

// invalidCompose is a Compose file the branch got wrong: bad input
// (store.ErrInvalid, a 400 from the API), with the file's own message.
type invalidCompose struct{ error }

func (e invalidCompose) Is(target error) bool { return target == store.ErrInvalid }
func (e invalidCompose) Unwrap() error        { return e.error }
