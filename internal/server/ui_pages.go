package server

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/slipway-cd/slipway/internal/ansihtml"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/store"
)

// uiPageSize is how many pipelines a project page lists at once.
const uiPageSize = 50

type uiProjectRow struct {
	Project store.Project
	Repo    string
	Last    *store.Pipeline
}

// uiProjects is the home page: every project with its last pipeline.
func (s *Server) uiProjects(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	projects, err := s.Store.ListProjects(ctx)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	rows := make([]uiProjectRow, 0, len(projects))
	for _, p := range projects {
		row := uiProjectRow{Project: p, Repo: mirror.Redact(p.RepoURL)}
		last, err := s.Store.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, Limit: 1})
		if err != nil {
			s.uiError(w, r, err)
			return
		}
		if len(last) > 0 {
			row.Last = &last[0]
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "projects", "layout", "Projects", "projects", rows)
}

// uiProjectData is a project's page: filtered pipelines, the run form,
// schedules and environments.
type uiProjectData struct {
	Project      store.Project
	Repo         string
	Ref          string
	Status       string
	Pipelines    []store.Pipeline
	Newer, Older string // links to the neighbouring pages, if any
	Schedules    []uiSchedule
	Environments []store.Environment
	// RunRef and RunError come back with a run that did not start.
	RunRef   string
	RunTag   bool
	RunError string
}

type uiSchedule struct {
	store.Schedule
	// VariableNames: a schedule's values may be secrets; pages show names.
	VariableNames []string
}

func (s *Server) uiProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	data, code, err := s.uiProjectPage(r.Context(), p, r.URL.Query())
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.render(w, r, code, "project", "layout", p.Name, "projects", data)
}

func (s *Server) uiProjectPage(ctx context.Context, p store.Project, q url.Values) (*uiProjectData, int, error) {
	d := &uiProjectData{Project: p, Repo: mirror.Redact(p.RepoURL), Ref: q.Get("ref"), Status: q.Get("status"), RunRef: p.DefaultBranch}
	code := http.StatusOK
	status := store.Status(d.Status)
	if status != "" && !status.Valid() {
		return nil, 0, &httpError{http.StatusBadRequest, fmt.Sprintf("status %q: not a pipeline status", d.Status)}
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = max(offset, 0)
	list, err := s.Store.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, Ref: d.Ref, Status: status,
		Limit: uiPageSize + 1, Offset: offset})
	if err == nil {
		err = s.Store.FillDurations(ctx, list)
	}
	if err != nil {
		return nil, 0, err
	}
	page := func(off int) string {
		v := url.Values{}
		if d.Ref != "" {
			v.Set("ref", d.Ref)
		}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		if off > 0 {
			v.Set("offset", strconv.Itoa(off))
		}
		return "?" + v.Encode()
	}
	if len(list) > uiPageSize {
		list = list[:uiPageSize]
		d.Older = page(offset + uiPageSize)
	}
	if offset > 0 {
		d.Newer = page(max(offset-uiPageSize, 0))
	}
	d.Pipelines = list
	schedules, err := s.Store.ListSchedules(ctx, p.ID)
	if err != nil {
		return nil, 0, err
	}
	for _, sc := range schedules {
		d.Schedules = append(d.Schedules, uiSchedule{Schedule: sc, VariableNames: sortedNames(sc.Variables)})
	}
	if d.Environments, err = s.Store.ListEnvironments(ctx, p.ID); err != nil {
		return nil, 0, err
	}
	return d, code, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// uiPipelineData is the pipeline page; Live is the part that the page
// re-fetches when the pipeline changes.
type uiPipelineData struct {
	Project       store.Project
	Pipeline      store.Pipeline
	VariableNames []string
	Live          uiPipelineLive
}

type uiPipelineLive struct {
	Pipeline store.Pipeline
	// Active: still running or waiting to run; the page keeps listening.
	Active bool
	// CanCancel: active and not yet asked to cancel; any server records
	// the cancel, the one that runs the pipeline carries it out.
	CanCancel bool
	// Canceling: asked to cancel, not over yet.
	Canceling bool
	Graph     template.HTML
	Jobs      []uiJobRow
}

type uiJobRow struct {
	Job      store.Job
	CanRetry bool
	CanPlay  bool
}

func (s *Server) uiPipeline(w http.ResponseWriter, r *http.Request) {
	live, err := s.uiLive(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	project, err := s.Store.GetProject(r.Context(), live.Pipeline.ProjectID)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	d := uiPipelineData{Project: project, Pipeline: live.Pipeline, VariableNames: sortedNames(live.Pipeline.Variables), Live: live}
	title := fmt.Sprintf("Pipeline #%d · %s", live.Pipeline.Number, project.Name)
	s.render(w, r, http.StatusOK, "pipeline", "layout", title, "projects", d)
}

// uiPipelineLive answers the live part of a pipeline page alone.
func (s *Server) uiPipelineLive(w http.ResponseWriter, r *http.Request) {
	live, err := s.uiLive(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "pipeline", "pipeline-live", "", "", live)
}

func (s *Server) uiLive(r *http.Request) (uiPipelineLive, error) {
	id, err := uiID(r, "id")
	if err != nil {
		return uiPipelineLive{}, err
	}
	view, err := s.pipelineView(r.Context(), id)
	if err != nil {
		return uiPipelineLive{}, err
	}
	running := s.Pipes.Running(id)
	active := view.Status.Active() || running
	asked := view.CancelRequestedAt != nil
	live := uiPipelineLive{Pipeline: view.Pipeline, Active: active, CanCancel: active && !asked, Canceling: active && asked}
	for _, j := range view.Jobs {
		live.Jobs = append(live.Jobs, uiJobRow{Job: j, CanRetry: !running && retryable(j.Status), CanPlay: !running && j.Status == store.Manual})
	}
	live.Graph = s.uiGraph(r.Context(), id, view.Jobs)
	return live, nil
}

// retryable mirrors what pipelines.Service.Retry accepts.
func retryable(st store.Status) bool {
	return st == store.Failed || st == store.Success || st == store.Canceled
}

// uiJobData is the job page.
type uiJobData struct {
	Project  store.Project
	Pipeline store.Pipeline
	Head     uiJobHead
	// Lines is the end of the log so far, rendered; the page follows the
	// rest live from End. Skipped: bytes of the log's start left out (the
	// raw log has them).
	Lines   []template.HTML
	End     int64
	Skipped uint64
}

// uiLogTail is how much of a log the job page shows: a page of a huge log
// would cost its reader's browser, and the server, as much as the log.
const uiLogTail = 1 << 20

type uiJobHead struct {
	Job store.Job
	// Attempts are the job's earlier tries, oldest first.
	Attempts []store.Job
	// Live: the job may still write to its log.
	Live     bool
	CanRetry bool
	CanPlay  bool
}

func (s *Server) uiJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	head, err := s.uiHead(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	job := head.Job
	p, err := s.Store.GetPipeline(ctx, job.PipelineID)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	project, err := s.Store.GetProject(ctx, p.ProjectID)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	lines, from, end, err := s.Logs.Tail(job.PipelineID, job.ID, uiLogTail)
	if err != nil {
		s.uiError(w, r, fmt.Errorf("log of job %d: %w", job.ID, err))
		return
	}
	d := uiJobData{Project: project, Pipeline: p, Head: head, Lines: make([]template.HTML, len(lines)), End: end, Skipped: uint64(from)}
	for i, l := range lines {
		d.Lines[i] = template.HTML(ansihtml.Line(l)) // ansihtml escapes the text
	}
	s.render(w, r, http.StatusOK, "job", "layout", fmt.Sprintf("%s · #%d", job.Name, p.Number), "projects", d)
}

// uiJobHead answers the job page's header alone, refreshed as the job
// moves.
func (s *Server) uiJobHead(w http.ResponseWriter, r *http.Request) {
	head, err := s.uiHead(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "job", "job-head", "", "", head)
}

func (s *Server) uiHead(r *http.Request) (uiJobHead, error) {
	id, err := uiID(r, "id")
	if err != nil {
		return uiJobHead{}, err
	}
	job, err := s.Store.GetJob(r.Context(), id)
	if err != nil {
		return uiJobHead{}, err
	}
	all, err := s.Store.ListJobs(r.Context(), job.PipelineID)
	if err != nil {
		return uiJobHead{}, err
	}
	latest := true
	var attempts []store.Job
	for _, j := range all {
		if j.Name != job.Name {
			continue
		}
		if j.ID != job.ID {
			attempts = append(attempts, j)
		}
		latest = j.ID == job.ID // the last row of a name is its latest attempt
	}
	running := s.Pipes.Running(job.PipelineID)
	return uiJobHead{
		Job: job, Attempts: attempts,
		Live:     !job.Status.Finished() && job.Status != store.Manual,
		CanRetry: latest && !running && retryable(job.Status),
		CanPlay:  latest && !running && job.Status == store.Manual,
	}, nil
}

// uiEnvRow is one environment with its project and last deployment.
type uiEnvRow struct {
	Project    store.Project
	Env        store.Environment
	Deployment *store.Deployment
	// CanStop: the server runs environments and this one is not stopped.
	CanStop bool
	// Usage is its services' health and resource use, last sampled.
	Usage usageView
}

func (s *Server) uiEnvironments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	projects, err := s.Store.ListProjects(ctx)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	var rows []uiEnvRow
	for _, p := range projects {
		envs, err := s.Store.ListEnvironments(ctx, p.ID)
		if err != nil {
			s.uiError(w, r, err)
			return
		}
		for _, e := range envs {
			row := uiEnvRow{Project: p, Env: e, CanStop: s.Envs != nil && (e.State == store.EnvAvailable || e.State == store.EnvStopFailed),
				Usage: s.usageOf(p, e)}
			if e.LastDeploymentID != nil {
				if d, err := s.Store.GetDeployment(ctx, *e.LastDeploymentID); err == nil {
					row.Deployment = &d
				}
			}
			rows = append(rows, row)
		}
	}
	s.render(w, r, http.StatusOK, "environments", "layout", "Environments", "environments", rows)
}

// jobURL is a job's page, where a graph box links.
func jobURL(id int64) string { return fmt.Sprintf("/jobs/%d", id) }
