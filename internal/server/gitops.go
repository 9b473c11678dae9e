package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
	"github.com/slipway-cd/slipway/internal/gitops/receiver"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
)

// GitopsConfig runs GitOps in the server: the controller of the
// deployments and the image update automation of one slipway-gitops.yaml
// (docs/gitops.md, docs/image-automation.md).
type GitopsConfig struct {
	// Config is the slipway-gitops.yaml; GitOps is off without it.
	Config string `yaml:"config"`
	// State holds the mirrors, checkouts and status files (default
	// DATA/gitops). Its lock keeps a second server off it.
	State string `yaml:"state"`
}

// gitopsLoops are the server's GitOps controllers.
type gitopsLoops struct {
	cfg *gitops.Config
	// controller reconciles the deployments onto the server's Docker host.
	controller *gitops.Controller
	// images runs the image updates; nil when the config has none.
	images *imageupdate.Automation
	// receivers serve the config's receivers (/hook/...); nil without.
	receivers *receiver.Handler
	// ready and reconciles are slipway_gitops_app_ready and
	// slipway_gitops_reconcile_total.
	ready      *prometheus.GaugeVec
	reconciles *prometheus.CounterVec
	// apps are the apps of each deployment that ready has a series of;
	// only the controller's loop (observe) uses it.
	apps map[string][]string
}

// newGitopsLoops makes the loops' metrics; the controllers come after.
func newGitopsLoops(cfg *gitops.Config) *gitopsLoops {
	return &gitopsLoops{
		cfg: cfg,
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slipway_gitops_app_ready", Help: "1 when the GitOps app runs as its source asks, 0 when it does not.",
		}, []string{"deployment", "app"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_gitops_reconcile_total", Help: "GitOps reconcile passes by deployment and result (ready, stalled).",
		}, []string{"deployment", "result"}),
		apps: map[string][]string{},
	}
}

// openGitops reads the config (an error names file:line:col) and builds
// the controller on the server's deployer, proxy and notifier.
func (s *Server) openGitops(ctx context.Context) error {
	gc := s.cfg.Gitops
	if gc.Config == "" {
		return errors.New("gitops.state: GitOps needs gitops.config, the slipway-gitops.yaml to run")
	}
	cfg, err := gitops.LoadConfig(gc.Config)
	if err != nil {
		return fmt.Errorf("gitops.config: %w", err)
	}
	images, err := imageupdate.LoadConfig(gc.Config)
	if err != nil {
		return fmt.Errorf("gitops.config: %w", err)
	}
	recvs, err := receiver.Load(cfg)
	if err != nil {
		return fmt.Errorf("gitops.config: %w", err)
	}
	if err := s.openDeployer(ctx); err != nil {
		return fmt.Errorf("gitops: %w", err)
	}
	if gc.State == "" {
		gc.State = filepath.Join(s.cfg.DataDir, "gitops")
	}
	g := newGitopsLoops(cfg)
	log := s.log.With("component", "gitops")
	if len(recvs) > 0 {
		// Built before the controller, so that a missing secret fails
		// with nothing to close; calls come once the server serves.
		g.receivers, err = receiver.New(recvs, receiver.Options{File: cfg.File, MaxBodyBytes: s.cfg.Webhooks.MaxBodyBytes,
			Reconcile: func(d string) error { return g.controller.Reconcile(d) }, Logger: log})
		if err != nil {
			return fmt.Errorf("gitops.config: %w", err)
		}
	}
	s.registry.MustRegister(g.ready, g.reconciles)
	installation, err := s.Store.Installation(ctx)
	if err != nil {
		return fmt.Errorf("gitops: %w", err)
	}
	g.controller, err = gitops.New(gitops.Options{Config: cfg, StateDir: gc.State, Deployer: s.deployer,
		Installation: installation.ID, Notifier: s.notifier, Reported: g.observe, Logger: log})
	if err != nil {
		return err
	}
	if len(images.Updates) > 0 {
		g.images = &imageupdate.Automation{Config: images, Logger: log, Ran: g.pushed}
	}
	s.gitops = g
	s.openUsage()
	return nil
}

// pushed reconciles at once the deployments that follow the branch an
// image update just pushed to, rather than at their source's next fetch.
func (g *gitopsLoops) pushed(u *imageupdate.Update, res imageupdate.Outcome, err error) {
	if err != nil || res.Commit == "" {
		return
	}
	for _, dep := range g.cfg.Deployments {
		if src, _ := g.cfg.Source(dep.Source); src.URL == u.URL && src.Branch == u.PushBranch {
			_ = g.controller.Reconcile(dep.Name) // a name of the config: never unknown
		}
	}
}

// observe keeps the metrics of a deployment's pass.
func (g *gitopsLoops) observe(st gitops.DeploymentStatus) {
	g.reconciles.WithLabelValues(st.Name, strings.ToLower(string(st.Condition))).Inc()
	var shown []string
	for _, a := range st.Apps {
		if a.Reason == gitops.ReasonPruned {
			continue
		}
		ready := 0.0
		if a.Condition == gitops.Ready {
			ready = 1
		}
		g.ready.WithLabelValues(st.Name, a.Name).Set(ready)
		shown = append(shown, a.Name)
	}
	// An app pruned, or whose folder left git before it ever ran, has no
	// series left: a 0 kept forever would be an alert that never ends.
	for _, app := range g.apps[st.Name] {
		if !slices.Contains(shown, app) {
			g.ready.DeleteLabelValues(st.Name, app)
		}
	}
	g.apps[st.Name] = shown
}

// startGitops runs the controller and the image updates until ctx ends.
func (s *Server) startGitops(ctx context.Context) {
	if s.gitops == nil {
		return
	}
	s.loop(ctx, func(ctx context.Context) { s.gitops.controller.Run(ctx) })
	if s.gitops.images != nil {
		s.loop(ctx, s.gitops.images.Run)
	}
}

// loop runs run in a goroutine of its own; Close waits for it.
func (s *Server) loop(ctx context.Context, run func(context.Context)) {
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		run(ctx)
	}()
}

// closeGitops delivers the controller's notifications and frees its state
// folder; the loops have ended.
func (s *Server) closeGitops(ctx context.Context) {
	if s.gitops == nil {
		return
	}
	if err := s.gitops.controller.Close(ctx); err != nil {
		s.log.Error("gitops: closing", "err", err)
	}
}

// receive serves the GitOps receivers: each checks its own secret, so no
// API token is asked for (a forge cannot send one).
func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	if s.gitops == nil || s.gitops.receivers == nil {
		http.NotFound(w, r)
		return
	}
	s.gitops.receivers.ServeHTTP(w, r)
}

func (s *Server) routesGitops(api func(string, func(*http.Request) (any, error))) {
	api("GET /api/gitops", s.getGitops)
	api("POST /api/gitops/{deployment}/reconcile", s.reconcileGitops)
	api("GET /api/gitops/{deployment}/usage", s.getGitopsUsage)
	api("POST /api/gitops/{deployment}/suspend", s.suspendGitops)
	api("POST /api/gitops/{deployment}/resume", s.resumeGitops)
	api("POST /api/gitops/images/{update}/run", s.runImageUpdate)
}

// gitopsView is what GET /api/gitops and the GitOps page show.
type gitopsView struct {
	Deployments []gitopsDeploymentView `json:"deployments"`
	// Images is the image automation's last scans and runs; empty when
	// the config has no imageUpdates.
	Images imageupdate.AutomationStatus `json:"images"`
}

// gitopsDeploymentView is a deployment's status with where it comes from.
type gitopsDeploymentView struct {
	gitops.DeploymentStatus
	// SourceURL has any credentials hidden.
	SourceURL string `json:"source_url"`
	Branch    string `json:"branch"`
	Path      string `json:"path"`
	// URLs are the addresses of each app's services with a hostname,
	// through the proxy.
	URLs map[string][]string `json:"urls"`
	// Usage is the resource use of each app's services (of the
	// deployment's workloads on Kubernetes), as last sampled.
	Usage []usage.Report `json:"usage"`
}

var errNoGitops = &httpError{http.StatusNotFound, "this server runs no GitOps: give gitops.config in its configuration"}

func (s *Server) gitopsView() (gitopsView, error) {
	if s.gitops == nil {
		return gitopsView{}, errNoGitops
	}
	v := gitopsView{Images: imageupdate.AutomationStatus{Policies: []imageupdate.PolicyStatus{}, Updates: []imageupdate.UpdateStatus{}}}
	for i, st := range s.gitops.controller.Statuses() {
		dep := s.gitops.cfg.Deployments[i]
		src, _ := s.gitops.cfg.Source(dep.Source)
		dv := gitopsDeploymentView{DeploymentStatus: st, SourceURL: mirror.Redact(src.URL), Branch: src.Branch, Path: dep.Path, URLs: map[string][]string{}}
		for _, a := range st.Apps {
			for _, svc := range a.Services {
				if u := s.appURL(svc.Host); u != "" {
					dv.URLs[a.Name] = append(dv.URLs[a.Name], u)
				}
			}
		}
		dv.Usage = s.gitopsUsage(st)
		v.Deployments = append(v.Deployments, dv)
	}
	if s.gitops.images != nil {
		v.Images = s.gitops.images.Status()
	}
	return v, nil
}

func (s *Server) getGitops(r *http.Request) (any, error) { return s.gitopsView() }

// reconcileGitops asks for a pass of the deployment now: 202, the pass
// runs in the background (GET /api/gitops shows its result).
func (s *Server) reconcileGitops(r *http.Request) (any, error) {
	name := r.PathValue("deployment")
	if err := s.requestReconcile(name); err != nil {
		return nil, err
	}
	return answer{http.StatusAccepted, map[string]string{"deployment": name, "status": "requested"}}, nil
}

func (s *Server) requestReconcile(name string) error {
	if s.gitops == nil {
		return errNoGitops
	}
	err := s.gitops.controller.Reconcile(name)
	if errors.Is(err, gitops.ErrUnknownDeployment) {
		return &httpError{http.StatusNotFound, err.Error()}
	}
	return err
}

// suspendGitops stops the deployment's passes until resume: 200 with its
// status.
func (s *Server) suspendGitops(r *http.Request) (any, error) {
	return s.suspendOrResume(r.PathValue("deployment"), true)
}

// resumeGitops lets the deployment's passes run again and asks for one:
// 200 with its status; 409 when its config suspends it.
func (s *Server) resumeGitops(r *http.Request) (any, error) {
	return s.suspendOrResume(r.PathValue("deployment"), false)
}

func (s *Server) suspendOrResume(name string, suspend bool) (any, error) {
	if s.gitops == nil {
		return nil, errNoGitops
	}
	c := s.gitops.controller
	var err error
	if suspend {
		err = c.Suspend(name)
	} else {
		err = c.Resume(name)
	}
	switch {
	case errors.Is(err, gitops.ErrUnknownDeployment):
		return nil, &httpError{http.StatusNotFound, err.Error()}
	case errors.Is(err, gitops.ErrSuspendedByConfig):
		return nil, &httpError{http.StatusConflict, err.Error()}
	case err != nil:
		return nil, err
	}
	for _, st := range c.Statuses() {
		if st.Name == name {
			return st, nil
		}
	}
	return nil, nil
}

// runImageUpdate asks for a run of the image update now: 202.
func (s *Server) runImageUpdate(r *http.Request) (any, error) {
	if s.gitops == nil {
		return nil, errNoGitops
	}
	name := r.PathValue("update")
	if s.gitops.images == nil {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("%s: no imageUpdates in the GitOps config", name)}
	}
	if err := s.gitops.images.RunNow(name); err != nil {
		if errors.Is(err, imageupdate.ErrUnknownUpdate) {
			return nil, &httpError{http.StatusNotFound, err.Error()}
		}
		return nil, err
	}
	return answer{http.StatusAccepted, map[string]string{"update": name, "status": "requested"}}, nil
}

// appURL is where people open a service with a hostname: through the
// port of the embedded proxy or of the external Caddy's server, written
// out when it is not the scheme's own; over HTTPS when the embedded proxy
// serves it.
func (s *Server) appURL(host string) string {
	if host == "" {
		return ""
	}
	scheme, listen, standard := "http", "", "80"
	switch {
	case s.proxy != nil && s.proxy.HTTPSAddr() != "":
		scheme, listen, standard = "https", s.proxy.HTTPSAddr(), "443"
	case s.proxy != nil:
		listen = s.proxy.Addr()
	case s.cfg.Proxy.External.AdminURL != "":
		listen = cmp.Or(s.cfg.Proxy.External.Listen, ":80")
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port != standard {
		host = net.JoinHostPort(host, port)
	}
	return scheme + "://" + host + "/"
}
