// Package gitops reconciles git repositories of desired state onto a
// Docker host: each deployment is a folder of a source repository holding
// one folder per app with a compose.yaml, and a pass makes the host run
// exactly those apps, with images pinned by digest.
//
// A pass is level-based: it compares what the commit asks for with what
// Docker shows (labels on the containers carry the deployment, the app,
// the hash of the desired spec and the commit), so it is idempotent and a
// restarted controller, even one killed mid-deploy, converges without
// redeploying what already runs. Deploys go through internal/env/dockerhost.
package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
)

// Labels on every container, network and volume of a GitOps app, next to
// dockerhost's.
const (
	LabelDeployment = "slipway.gitops.deployment"
	LabelApp        = "slipway.gitops.app"
	// LabelSpec is the hash of the desired spec the containers were made
	// from: a pass compares it with the commit's.
	LabelSpec = "slipway.gitops.spec"
	// LabelRevision is the commit the containers were deployed from.
	LabelRevision = "slipway.gitops.revision"
	// LabelInstallation is the id of the controller's installation: a
	// controller sees only its own containers as its apps.
	LabelInstallation = "slipway.gitops.installation"
)

// ComposeFile is the file each app folder holds.
const ComposeFile = "compose.yaml"

// Options configure a Controller.
type Options struct {
	Config *Config
	// StateDir holds the mirrors, the checkouts and the status files.
	StateDir string
	// Deployer runs the apps on the Docker host; only deployments without
	// a kubernetes target need one.
	Deployer *dockerhost.Deployer
	// Installation is the id labelling what this controller applies, so
	// two Slipways on one cluster or engine leave each other's alone; ""
	// keeps one in STATE/installation.
	Installation string
	// Getenv reads credentials and notification secrets; os.Getenv when
	// nil.
	Getenv func(string) string
	// HTTPClient sends notifications; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Notify tunes the notification dispatcher (retries, timeouts).
	Notify notify.Options
	// Notifier, when set, gets the events of the deployments that have no
	// notify targets of their own (the server's notifier).
	Notifier *notify.Dispatcher
	// Reported, when set, is given the status of each deployment after
	// each pass (the server's metrics).
	Reported func(DeploymentStatus)
	Logger   *slog.Logger
}

// ErrUnknownDeployment is returned by Reconcile for a name the config
// lacks.
var ErrUnknownDeployment = errors.New("no such deployment")

// Controller reconciles the deployments of one config.
type Controller struct {
	opts    Options
	log     *slog.Logger
	getenv  func(string) string
	mirrors *mirror.Mirrors
	// lock keeps other controllers off the state folder.
	lock *os.File
	// dispatchers send each deployment's notifications to its targets.
	dispatchers map[string]*notify.Dispatcher
	// kick carries the deployments Reconcile asks Run to reconcile now.
	kick chan string
	// read is the config file as it was read, to tell a change of it.
	read []byte
	// installation is the id on what the controller applies.
	installation string
	// clusters are the Kubernetes deployments' connections, by deployment.
	clusters   map[string]*kube.Cluster
	clustersMu sync.Mutex
}

// New checks the options, takes the state folder (ErrLocked when another
// controller has it) and builds the notification targets, so a missing
// secret fails at start. Close releases it all.
func New(opts Options) (*Controller, error) {
	if opts.Config == nil || opts.StateDir == "" {
		return nil, errors.New("gitops: Config and StateDir are required")
	}
	if opts.Deployer == nil && slices.ContainsFunc(opts.Config.Deployments, func(d Deployment) bool { return d.Kubernetes == nil }) {
		return nil, errors.New("gitops: a Deployer is required for the deployments onto this Docker host")
	}
	// Absolute, so that messages about the apps' files can name them by
	// their path in the repository.
	state, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("gitops: state folder: %w", err)
	}
	opts.StateDir = state
	c := &Controller{opts: opts, log: opts.Logger, getenv: opts.Getenv, kick: make(chan string, len(opts.Config.Deployments)+1)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.getenv == nil {
		c.getenv = os.Getenv
	}
	lock, err := lockState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	c.lock = lock
	if c.installation, err = installationID(opts.StateDir, opts.Installation); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	c.clusters = map[string]*kube.Cluster{}
	c.read, _ = os.ReadFile(opts.Config.File)
	c.dropStaleStatuses()
	c.mirrors = &mirror.Mirrors{Dir: filepath.Join(opts.StateDir, "mirrors")}
	c.dispatchers = map[string]*notify.Dispatcher{}
	for _, dep := range opts.Config.Deployments {
		targets, err := dep.Notify.Targets(c.getenv, opts.HTTPClient)
		if err != nil {
			c.Close(context.Background())
			return nil, fmt.Errorf("%s: deployment %s: %w", opts.Config.File, dep.Name, err)
		}
		if len(targets) == 0 {
			if opts.Notifier != nil {
				c.dispatchers[dep.Name] = opts.Notifier
			}
			continue
		}
		for i := range targets {
			if len(dep.Notify[i].Events) == 0 {
				// notify's defaults are about pipelines: GitOps sends all.
				targets[i].Events = nil
			}
		}
		nopts := opts.Notify
		if nopts.Logger == nil {
			nopts.Logger = c.log
		}
		c.dispatchers[dep.Name] = notify.NewDispatcher(targets, nopts)
	}
	return c, nil
}

// Close waits for the old generations being removed in the background and
// delivers the queued notifications, both until ctx ends, and lets another
// controller use the state folder.
func (c *Controller) Close(ctx context.Context) error {
	var errs []error
	if c.opts.Deployer != nil { // nil when every deployment is on Kubernetes
		if err := c.opts.Deployer.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gitops: %w", err))
		}
	}
	for _, d := range c.dispatchers {
		if d != c.opts.Notifier { // the server's: it closes it
			errs = append(errs, d.Close(ctx))
		}
	}
	if c.lock != nil {
		errs = append(errs, c.lock.Close())
		c.lock = nil
	}
	return errors.Join(errs...)
}

// ReconcileAll fetches every source once and reconciles every deployment,
// returning their statuses; the error names the deployments not Ready.
func (c *Controller) ReconcileAll(ctx context.Context) ([]DeploymentStatus, error) {
	arts := map[string]artifact{}
	errs := map[string]error{}
	for _, s := range c.opts.Config.Sources {
		arts[s.Name], errs[s.Name] = c.fetch(ctx, s)
	}
	done := map[string]DeploymentStatus{}
	for _, dep := range dependencyOrder(c.opts.Config.Deployments) {
		done[dep.Name] = c.syncDeployment(ctx, dep, arts, errs)
	}
	var out []DeploymentStatus
	var failed []error
	for _, dep := range c.opts.Config.Deployments {
		st := done[dep.Name]
		out = append(out, st)
		if st.Condition != Ready && !st.Suspended {
			failed = append(failed, fmt.Errorf("deployment %s: %s: %s", st.Name, st.Reason, st.Message))
		}
	}
	return out, joinLine(failed...)
}

// Run reconciles until ctx ends: each source is fetched at its interval,
// each deployment reconciled at its own, as soon as its source has a new
// commit, and when Reconcile asks (its source fetched first).
func (c *Controller) Run(ctx context.Context) error {
	cfg := c.opts.Config
	c.restoreRoutes(ctx)
	c.log.Info("gitops: running the config as read at start; restart to apply a change of it", "config", cfg.File)
	warned := false
	order := dependencyOrder(cfg.Deployments)
	nextFetch := map[string]time.Time{}
	nextSync := map[string]time.Time{}
	arts := map[string]artifact{}
	errs := map[string]error{}
	for ctx.Err() == nil {
		if !warned && c.configChanged() {
			c.log.Warn("gitops: the config file changed; the controller runs the one it read at start until it restarts", "config", cfg.File)
			warned = true
		}
		now := time.Now()
		for _, s := range cfg.Sources {
			if now.Before(nextFetch[s.Name]) {
				continue
			}
			art, err := c.fetch(ctx, s)
			if art.Revision != arts[s.Name].Revision || (err == nil) != (errs[s.Name] == nil) {
				for _, dep := range cfg.Deployments {
					if dep.Source == s.Name {
						delete(nextSync, dep.Name)
					}
				}
			}
			if err != nil {
				c.log.Error("gitops: fetch failed", "source", s.Name, "err", err)
			}
			arts[s.Name], errs[s.Name] = art, err
			nextFetch[s.Name] = now.Add(s.Interval)
		}
		for _, dep := range order {
			if now.Before(nextSync[dep.Name]) {
				continue
			}
			st := c.syncDeployment(ctx, dep, arts, errs)
			nextSync[dep.Name] = time.Now().Add(dep.Interval)
			if st.Reason == ReasonDependencyNotReady {
				nextSync[dep.Name] = time.Now().Add(min(dep.Interval, dependencyRetry))
			}
		}
		next := time.Now().Add(time.Hour)
		for _, t := range nextFetch {
			next = earliest(next, t)
		}
		for _, t := range nextSync {
			next = earliest(next, t)
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		case name := <-c.kick:
			timer.Stop()
			for _, dep := range cfg.Deployments {
				if dep.Name == name {
					delete(nextFetch, dep.Source)
					delete(nextSync, dep.Name)
				}
			}
		}
	}
	return ctx.Err()
}

// configChanged tells whether the config file is no longer what New read.
func (c *Controller) configChanged() bool {
	now, err := os.ReadFile(c.opts.Config.File)
	return c.read != nil && (err != nil || !bytes.Equal(now, c.read))
}

// restoreRoutes gives the proxy the routes of every app that runs, before
// any fetch: an embedded proxy (gitops run --proxy-listen) goes down with
// the controller and starts again without routes, and waiting for a pass
// left the apps unreachable for as long as their source could not be
// fetched.
func (c *Controller) restoreRoutes(ctx context.Context) {
	for _, dep := range c.opts.Config.Deployments {
		if dep.Kubernetes != nil {
			continue
		}
		running, err := c.running(ctx, dep.Name)
		if err != nil {
			c.log.Warn("gitops: routes of the running apps not restored", "deployment", dep.Name, "err", err)
			continue
		}
		for app, st := range running {
			if err := c.opts.Deployer.Reroute(ctx, st.Env); err != nil {
				c.log.Warn("gitops: route not restored", "deployment", dep.Name, "app", app, "err", err)
			}
		}
	}
}

// Reconcile asks Run to fetch the deployment's source and reconcile it at
// once, as Flux's reconcile annotation does; it does not wait for the pass.
func (c *Controller) Reconcile(deployment string) error {
	if !slices.ContainsFunc(c.opts.Config.Deployments, func(d Deployment) bool { return d.Name == deployment }) {
		return fmt.Errorf("%w: %q", ErrUnknownDeployment, deployment)
	}
	select {
	case c.kick <- deployment:
	default: // full: passes are pending already
	}
	return nil
}

// Statuses returns the last status of every deployment of the config, in
// its order; one never reconciled yet is Reconciling.
func (c *Controller) Statuses() []DeploymentStatus {
	out := make([]DeploymentStatus, 0, len(c.opts.Config.Deployments))
	for _, dep := range c.opts.Config.Deployments {
		st, err := ReadStatus(c.opts.StateDir, dep.Name)
		if err != nil {
			st = DeploymentStatus{Name: dep.Name, Source: dep.Source, Condition: Reconciling, Reason: ReasonProgressing,
				Message: "not reconciled yet", Apps: []AppStatus{}}
		}
		out = append(out, st)
	}
	return out
}

// syncDeployment reconciles one deployment, unless it is suspended or
// waits on a dependency, and reports its status. arts and errs are the
// sources' last fetches.
func (c *Controller) syncDeployment(ctx context.Context, dep Deployment, arts map[string]artifact, errs map[string]error) DeploymentStatus {
	var st DeploymentStatus
	prev := c.previousStatus(dep.Name)
	switch {
	case c.suspendedBy(dep) != "":
		return c.saveSuspended(dep)
	case c.notReady(dep, arts) != "":
		st = c.waitForDependencies(dep, c.notReady(dep, arts))
	case dep.Kubernetes != nil:
		st = c.reconcileKube(ctx, dep, arts[dep.Source], errs[dep.Source])
	default:
		st = c.reconcileDeployment(ctx, dep, arts[dep.Source], errs[dep.Source])
	}
	if ctx.Err() == nil { // an interrupted pass is no result
		c.alert(dep, arts[dep.Source], prev, st)
		if c.opts.Reported != nil {
			c.opts.Reported(st)
		}
	}
	return st
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
