package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/gitops/receiver"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/store"
)

// Handler is the whole HTTP surface: API, webhooks, UI, metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	mux.HandleFunc("POST /hooks/{project}", s.webhook)
	mux.HandleFunc("POST /hooks/{project}/{provider}", s.webhook)
	mux.HandleFunc(receiver.PathPrefix, s.receive)

	api := func(pattern string, h func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, s.apiHandler(h, tokenForWrites))
	}
	api("GET /api/projects", s.listProjects)
	api("POST /api/projects", s.createProject)
	api("GET /api/projects/{project}", s.getProject)
	api("PUT /api/projects/{project}/webhook-secret", s.setWebhookSecret)
	mux.HandleFunc("GET /api/projects/{project}/variables", s.apiHandler(s.listVariables, tokenAlways))
	api("PUT /api/projects/{project}/variables/{name}", s.setVariable)
	api("DELETE /api/projects/{project}/variables/{name}", s.deleteVariable)
	api("GET /api/projects/{project}/pipelines", s.listPipelines)
	api("POST /api/projects/{project}/pipelines", s.runPipeline)
	api("GET /api/projects/{project}/schedules", s.listSchedules)
	api("POST /api/projects/{project}/schedules", s.createSchedule)
	api("GET /api/projects/{project}/schedules/{id}", s.getSchedule)
	api("PUT /api/projects/{project}/schedules/{id}", s.updateSchedule)
	api("DELETE /api/projects/{project}/schedules/{id}", s.deleteSchedule)
	api("POST /api/projects/{project}/schedules/{id}/play", s.playSchedule)
	api("POST /api/projects/{project}/triggers", s.createTrigger)
	mux.HandleFunc("GET /api/projects/{project}/triggers", s.apiHandler(s.listTriggers, tokenAlways))
	api("DELETE /api/projects/{project}/triggers/{id}", s.deleteTrigger)
	mux.HandleFunc("POST /api/projects/{project}/trigger/pipeline", s.apiHandler(s.triggerPipeline, ownAuth))
	api("GET /api/pipelines/{id}", s.getPipeline)
	api("GET /api/webhook-deliveries/{id}", s.getDelivery)
	api("POST /api/pipelines/{id}/cancel", s.cancelPipeline)
	api("GET /api/jobs/{id}", s.getJob)
	api("POST /api/jobs/{id}/retry", s.retryJob)
	api("POST /api/jobs/{id}/play", s.playJob)
	mux.HandleFunc("GET /api/jobs/{id}/log", s.jobLog)
	mux.HandleFunc("GET /api/jobs/{id}/log/stream", s.jobLogStream)
	mux.HandleFunc("GET /api/pipelines/{id}/events", s.pipelineEvents)

	s.routesEnvironments(mux, api)
	s.routesGitops(api)
	if s.Images != nil {
		mux.Handle("/v2/", s.Images)
		api("GET /api/registry/cleanup", s.cleanupStatus)
		api("POST /api/registry/cleanup", s.cleanupRegistry)
	}

	s.routesUI(mux)
	// Browsers' cross-site requests may not change anything: a page a
	// developer visits must not be able to run pipelines here. Forges and
	// the CLI send no Origin/Sec-Fetch-Site headers and pass.
	return http.NewCrossOriginProtection().Handler(mux)
}

// authMode says what authorizes an API call.
type authMode int

const (
	tokenForWrites authMode = iota // the API token, for calls that change something
	tokenAlways                    // the API token, even to read (secret values)
	ownAuth                        // the handler checks a trigger or job token itself
)

// httpError carries an HTTP status with a message for the API.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// answer is a handler's value with a status of its own (202 Accepted,
// say), where apiHandler would pick one.
type answer struct {
	code int
	v    any
}

// apiHandler runs h, answers JSON and maps errors to status codes. Calls
// that change something need the API token when one is configured.
func (s *Server) apiHandler(h func(*http.Request) (any, error), mode authMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		needToken := mode == tokenAlways || mode == tokenForWrites && r.Method != http.MethodGet
		if needToken && !s.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API token is required (Authorization: Bearer ...)"})
			return
		}
		v, err := h(r)
		if err != nil {
			code := statusOf(err)
			if code == http.StatusInternalServerError {
				s.log.Error("api", "path", r.URL.Path, "err", err)
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		code := http.StatusOK
		if r.Method == http.MethodPost {
			code = http.StatusCreated
		}
		if a, ok := v.(answer); ok {
			code, v = a.code, a.v
		}
		writeJSON(w, code, v)
	}
}

// statusOf is the HTTP status an error answers with.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, pipelines.ErrNoPipeline), errors.Is(err, pipelines.ErrUnknownRef):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *Server) authorized(r *http.Request) bool {
	if s.apiToken == "" {
		return true
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.isAPIToken(token)
}

// isAPIToken says whether secret is the configured API token.
func (s *Server) isAPIToken(secret string) bool {
	return s.apiToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.apiToken)) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err != io.EOF {
		return badRequest("request body: %v", err)
	}
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return 0, badRequest("%s: %q is not a number", name, r.PathValue(name))
	}
	return id, nil
}

// project finds the project of the path: by ID or by name.
func (s *Server) project(r *http.Request) (store.Project, error) {
	ref := r.PathValue("project")
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.Store.GetProject(r.Context(), id)
	}
	return s.Store.GetProjectByName(r.Context(), ref)
}

func (s *Server) listProjects(r *http.Request) (any, error) { return s.Store.ListProjects(r.Context()) }

func (s *Server) getProject(r *http.Request) (any, error) { return s.project(r) }

type projectRequest struct {
	store.Project
	WebhookSecret string `json:"webhook_secret"`
}

func (s *Server) createProject(r *http.Request) (any, error) {
	var req projectRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if e := req.Executor; e != "" && !slices.Contains(byname.Names, e) {
		return nil, badRequest("executor %q: one of %s, or empty for the server's", e, strings.Join(byname.Names, ", "))
	}
	if req.Executor == "kubernetes" && s.cfg.Kubernetes == nil {
		return nil, badRequest("executor kubernetes: the server has no kubernetes configuration")
	}
	p, err := s.Store.CreateProject(r.Context(), req.Project)
	if err != nil {
		return nil, err
	}
	if req.WebhookSecret != "" {
		if err := s.Store.SetWebhookSecret(r.Context(), p.ID, req.WebhookSecret); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Server) setWebhookSecret(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Secret string `json:"secret"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Secret) < 16 {
		return nil, badRequest("secret: at least 16 characters")
	}
	return map[string]bool{"ok": true}, s.Store.SetWebhookSecret(r.Context(), p.ID, req.Secret)
}

func (s *Server) listVariables(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	return s.Store.ListVariables(r.Context(), p.ID)
}

func (s *Server) setVariable(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	var v store.Variable
	if err := decode(r, &v); err != nil {
		return nil, err
	}
	v.ProjectID, v.Name = p.ID, r.PathValue("name")
	return s.Store.SetVariable(r.Context(), v)
}

func (s *Server) deleteVariable(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	return map[string]bool{"ok": true}, s.Store.DeleteVariable(r.Context(), p.ID, r.PathValue("name"))
}

func (s *Server) listPipelines(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	ps, err := s.Store.ListPipelines(r.Context(), store.PipelineFilter{
		ProjectID: p.ID, Ref: q.Get("ref"), Status: store.Status(q.Get("status")), Source: q.Get("source"),
		Limit: limit, Offset: offset,
	})
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].Variables = s.visibleValues(r, ps[i].Variables)
	}
	return ps, s.Store.FillDurations(r.Context(), ps)
}

// visibleValues hides the values of a pipeline's or schedule's variables
// from readers without the API token (when the server has one): they may
// be secrets. The names stay.
func (s *Server) visibleValues(r *http.Request, vars map[string]string) map[string]string {
	if s.authorized(r) || len(vars) == 0 {
		return vars
	}
	out := make(map[string]string, len(vars))
	for k := range vars {
		out[k] = store.MaskedValue
	}
	return out
}

// runRequest is a manual run (web, API) or a trigger-token run.
type runRequest struct {
	Ref       string            `json:"ref"`
	Tag       bool              `json:"tag"`
	Variables map[string]string `json:"variables"`
}

func (s *Server) runPipeline(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	var req runRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	source := "api"
	if r.Header.Get("X-Slipway-Source") == "web" {
		source = "web"
	}
	return s.create(r.Context(), p, pipelines.Trigger{Source: source, Ref: req.Ref, Tag: req.Tag, Variables: req.Variables})
}

func (s *Server) create(ctx context.Context, p store.Project, t pipelines.Trigger) (any, error) {
	if t.Ref == "" {
		t.Ref = p.DefaultBranch
	}
	if err := store.CheckRef("ref", t.Ref); err != nil {
		return nil, err
	}
	pipe, err := s.Pipes.Create(ctx, p, t)
	if err != nil {
		return nil, err
	}
	return s.pipelineView(ctx, pipe.ID)
}

// pipelineWithJobs is a pipeline and the last attempt of each of its jobs.
type pipelineWithJobs struct {
	store.Pipeline
	Jobs []store.Job `json:"jobs"`
}

func (s *Server) pipelineView(ctx context.Context, id int64) (pipelineWithJobs, error) {
	p, err := s.Store.GetPipeline(ctx, id)
	if err != nil {
		return pipelineWithJobs{}, err
	}
	jobs, err := s.Store.ListJobs(ctx, id)
	if err != nil {
		return pipelineWithJobs{}, err
	}
	p.Duration = store.PipelineDuration(jobs, time.Now())
	return pipelineWithJobs{Pipeline: p, Jobs: pipelines.Latest(jobs)}, nil
}

func (s *Server) getPipeline(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	v, err := s.pipelineView(r.Context(), id)
	v.Variables = s.visibleValues(r, v.Variables)
	return v, err
}

// cancelPipeline answers 200 with the pipeline when this server runs it
// and canceled it at once, 202 when another server runs it (it cancels it
// on its next heartbeat), 409 when the pipeline is over.
func (s *Server) cancelPipeline(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, code, err := s.cancel(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return answer{code, p}, nil
}

// cancel records that pipeline id is to be canceled, then cancels it when
// it runs here (http.StatusOK). Otherwise the server that runs it cancels
// it when its liveness loop sees the request (http.StatusAccepted); a
// pipeline whose server is gone is failed by the reaper instead.
func (s *Server) cancel(ctx context.Context, id int64) (store.Pipeline, int, error) {
	p, err := s.Store.RequestCancel(ctx, id)
	if err != nil {
		return store.Pipeline{}, 0, err
	}
	if s.Pipes.Cancel(id) {
		return p, http.StatusOK, nil
	}
	return p, http.StatusAccepted, nil
}

func (s *Server) getJob(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.Store.GetJob(r.Context(), id)
}

func (s *Server) retryJob(r *http.Request) (any, error) { return s.resume(r, s.Pipes.Retry) }

func (s *Server) playJob(r *http.Request) (any, error) { return s.resume(r, s.Pipes.Play) }

func (s *Server) resume(r *http.Request, do func(context.Context, int64) error) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	job, err := s.Store.GetJob(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := do(r.Context(), id); err != nil {
		if errors.Is(err, pipelines.ErrConflict) {
			return nil, &httpError{http.StatusConflict, err.Error()}
		}
		return nil, err
	}
	return s.pipelineView(r.Context(), job.PipelineID)
}

func (s *Server) listSchedules(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	scs, err := s.Store.ListSchedules(r.Context(), p.ID)
	for i := range scs {
		scs[i].Variables = s.visibleValues(r, scs[i].Variables)
	}
	return scs, err
}

func (s *Server) createSchedule(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	var sc store.Schedule
	if err := decode(r, &sc); err != nil {
		return nil, err
	}
	sc.ProjectID = p.ID
	if sc.Ref == "" {
		sc.Ref = p.DefaultBranch
	}
	return s.Store.CreateSchedule(r.Context(), sc)
}

func (s *Server) createTrigger(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Description string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	t, token, err := s.Store.CreateTriggerToken(r.Context(), p.ID, req.Description)
	if err != nil {
		return nil, err
	}
	return map[string]any{"trigger": t, "token": token}, nil
}

// triggerPipeline is GitLab's trigger API: a trigger token, a ref and
// variables[NAME]=value, as form fields or JSON. The token, not the API
// token, authorizes it.
func (s *Server) triggerPipeline(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	req := runRequest{Variables: map[string]string{}}
	var token string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			runRequest
			Token string `json:"token"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		req, token = body.runRequest, body.Token
	} else {
		if err := parseAnyForm(r); err != nil {
			return nil, badRequest("form: %v", err)
		}
		token, req.Ref = r.Form.Get("token"), r.Form.Get("ref")
		for k, v := range r.Form {
			if name, ok := strings.CutPrefix(k, "variables["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
				req.Variables[strings.TrimSuffix(name, "]")] = v[0]
			}
		}
	}
	t, err := s.Store.UseTriggerToken(r.Context(), token)
	if err != nil || t.ProjectID != p.ID {
		return nil, &httpError{http.StatusUnauthorized, "invalid trigger token"}
	}
	return s.create(r.Context(), p, pipelines.Trigger{Source: "trigger", Ref: req.Ref, Variables: req.Variables})
}

// parseAnyForm reads a URL-encoded or a multipart form (GitLab's
// documented `curl -F token=... -F ref=...`) into r.Form.
func parseAnyForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(1 << 20)
	}
	return r.ParseForm()
}

// jobLog answers a job's log as plain text, streamed from its file.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request) {
	job, ok := s.jobOf(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := s.Logs.Copy(w, job.PipelineID, job.ID); err != nil {
		s.log.Error("reading a job log", "job", job.ID, "err", err)
	}
}

func (s *Server) jobOf(w http.ResponseWriter, r *http.Request) (store.Job, bool) {
	id, err := pathID(r, "id")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return store.Job{}, false
	}
	job, err := s.Store.GetJob(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return store.Job{}, false
	}
	return job, true
}

// jobLogStream streams a job's log as server-sent events: every line from
// the offset asked (?from=, or Last-Event-ID when the browser reconnects;
// each line's id is the offset after it), then each new line while the job
// runs, then an "end" event.
func (s *Server) jobLogStream(w http.ResponseWriter, r *http.Request) {
	job, ok := s.jobOf(w, r)
	if !ok {
		return
	}
	from, err := logOffset(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	lines, live, err := s.Logs.Follow(ctx, job.PipelineID, job.ID, from)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	// Until the job starts, its log is looked at again each time its
	// pipeline moves.
	updates, stop := s.Pipes.Updates.Subscribe(job.PipelineID)
	defer stop()
	for {
		if from, ok = streamLogLines(ctx, w, flusher, lines, from); !ok {
			return
		}
		if live || !s.logMayGrow(ctx, job.ID) {
			io.WriteString(w, "event: end\ndata: \n\n")
			flusher.Flush()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-updates:
		case <-time.After(2 * time.Second):
		}
		if lines, live, err = s.Logs.Follow(ctx, job.PipelineID, job.ID, from); err != nil {
			return
		}
	}
}

// logOffset is where a log stream starts: the Last-Event-ID of a browser
// that reconnects, else ?from=, else 0.
func logOffset(r *http.Request) (int64, error) {
	v, name := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, name = r.URL.Query().Get("from"), "from"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a byte offset in the log", name, v)
	}
	return n, nil
}

// streamLogLines sends each line as an event, flushing when no more is
// ready, with a keepalive comment while the job is quiet. It returns the
// offset reached and false when the client left.
func streamLogLines(ctx context.Context, w io.Writer, f http.Flusher, lines <-chan joblog.Line, from int64) (int64, bool) {
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		var l joblog.Line
		var ok bool
		select {
		case l, ok = <-lines:
		default:
			f.Flush()
			select {
			case l, ok = <-lines:
			case <-keepalive.C:
				io.WriteString(w, ": keepalive\n\n")
				continue
			case <-ctx.Done():
				return from, false
			}
		}
		if !ok {
			return from, ctx.Err() == nil
		}
		fmt.Fprintf(w, "id: %d\ndata: %s\n\n", l.End, l.Text)
		from = l.End
	}
}

// logMayGrow reports whether a job whose log nobody writes yet may still
// start writing it.
func (s *Server) logMayGrow(ctx context.Context, jobID int64) bool {
	j, err := s.Store.GetJob(ctx, jobID)
	return err == nil && j.Status.Active()
}

// pipelineEvents sends an event each time a pipeline changes, with its
// current state, until it ends.
func (s *Server) pipelineEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	updates, stop := s.Pipes.Updates.Subscribe(id)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for {
		view, err := s.pipelineView(r.Context(), id)
		if err != nil {
			return
		}
		view.Variables = s.visibleValues(r, view.Variables)
		data, _ := json.Marshal(view)
		fmt.Fprintf(w, "event: pipeline\ndata: %s\n\n", data)
		flusher.Flush()
		if !view.Status.Active() && !s.Pipes.Running(id) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-updates:
		case <-time.After(15 * time.Second):
		}
	}
}
