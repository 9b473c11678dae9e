package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/moby/moby/client"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/slipway-cd/slipway/internal/env"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/usage/kubeusage"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/kubehost"
	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/external"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/store"
)

// EnvironmentsConfig turns on review environments: services from the
// repository's Compose file on this host's Docker engine, behind a proxy.
type EnvironmentsConfig struct {
	Enabled bool `yaml:"enabled"`
	// Ports is the range of loopback ports for services (default 8040-8999).
	Ports string `yaml:"ports"`
	// AutoStopTick is how often expired environments are looked for, and
	// stopping ones moved on (default 30s).
	AutoStopTick time.Duration `yaml:"auto_stop_tick"`
	// UsageInterval is how often the services' health and resource use are
	// sampled (default 15s; docs/usage.md).
	UsageInterval time.Duration `yaml:"usage_interval"`
	// Target is where environments run: docker (the default: this host's
	// engine) or kubernetes (a namespace each on the cluster of Kubernetes).
	Target string `yaml:"target"`
	// Kubernetes is the cluster of target: kubernetes.
	Kubernetes EnvironmentsKubernetes `yaml:"kubernetes"`
}

// EnvironmentsKubernetes is environments.kubernetes: the cluster review
// environments run on.
type EnvironmentsKubernetes struct {
	// Kubeconfig is the kubeconfig file; "" means $KUBECONFIG or
	// ~/.kube/config, as kubectl reads them.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig's context; "" is its current one.
	Context string `yaml:"context"`
	// NamespacePrefix starts each environment's namespace (default slipway-).
	NamespacePrefix string `yaml:"namespace_prefix"`
}

// checkTarget checks target and its cluster; errors start with the key.
func (e EnvironmentsConfig) checkTarget() error {
	switch e.Target {
	case "", "docker":
		if e.Kubernetes != (EnvironmentsKubernetes{}) {
			return errors.New("environments.kubernetes: set, but environments.target is not kubernetes")
		}
	case "kubernetes":
		if p := e.Kubernetes.NamespacePrefix; p != "" {
			if pre := strings.TrimSuffix(p, "-"); len(p) > 30 || pre == "" || slug.Label(pre) != pre {
				return fmt.Errorf("environments.kubernetes.namespace_prefix %q: want at most 30 lower-case letters, digits and dashes", p)
			}
		}
	default:
		return fmt.Errorf("environments.target %q: want docker or kubernetes", e.Target)
	}
	return nil
}

// openKubeHost runs the environments on the cluster of
// environments.kubernetes, each in its own namespace labelled with the
// installation.
func (s *Server) openKubeHost(installation string) error {
	k := s.cfg.Environments.Kubernetes
	c, err := kube.Connect(kube.Target{Kubeconfig: k.Kubeconfig, Context: k.Context})
	if err != nil {
		return fmt.Errorf("environments.kubernetes: %w", err)
	}
	cs, err := k8s.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("environments.kubernetes: %w", err)
	}
	hostnames, err := s.cfg.Proxy.hostnames()
	if err != nil {
		return err
	}
	if s.kubeUsage, err = kubeusage.New(c.Config); err != nil {
		return fmt.Errorf("environments.kubernetes: %w", err)
	}
	s.kubeHost, err = kubehost.New(kubehost.Options{Client: cs, Installation: installation, NamespacePrefix: k.NamespacePrefix,
		Router: s.router, Hostnames: hostnames, Logger: s.log})
	return err
}

// ProxyConfig is the proxy: section (docs/proxy.md) of review
// environments and GitOps apps.
type ProxyConfig struct {
	// Domain is {domain} of the hostnames (default localhost).
	Domain    string        `yaml:"domain"`
	Hostnames HostTemplates `yaml:"hostnames"`
	// Embedded is the embedded Caddy; External, when its admin_url is set,
	// gets the routes instead.
	Embedded embedded.Config `yaml:"embedded"`
	External external.Config `yaml:"external"`
}

// HostTemplates are proxy.hostnames: the templates of the main service's
// hostname and of the others'.
type HostTemplates struct {
	Main    string `yaml:"main"`
	Service string `yaml:"service"`
}

// hostnames are the checked templates, on localhost without a domain.
func (p ProxyConfig) hostnames() (proxy.Hostnames, error) {
	h := proxy.Hostnames{Domain: p.Domain, Main: p.Hostnames.Main, Service: p.Hostnames.Service}
	if h.Domain == "" {
		h.Domain = "localhost"
	}
	return h, h.Validate() // its errors name the proxy.* key
}

// openEnvironments starts the environments' manager on the deployer.
func (s *Server) openEnvironments(ctx context.Context) error {
	if err := s.cfg.Environments.checkUsageInterval(); err != nil {
		return err
	}
	if err := s.cfg.Environments.checkTarget(); err != nil {
		return err
	}
	if err := s.openDeployer(ctx); err != nil {
		return err
	}
	installation, err := s.Store.Installation(ctx)
	if err != nil {
		return fmt.Errorf("environments: %w", err)
	}
	s.Envs = &env.Manager{Store: s.Store, Deployer: s.deployer, Pipes: s.Pipes, Installation: installation.ID, InstalledAt: installation.CreatedAt,
		Logger: s.log, Notify: s.Pipes.Notify, URLOf: s.appURL}
	if s.cfg.Environments.Target == "kubernetes" {
		if err := s.openKubeHost(installation.ID); err != nil {
			return err
		}
		s.Envs.Host = s.kubeHost
	}
	if s.Images != nil {
		s.Envs.Registry = s.Images
	}
	s.Pipes.JobFinished = s.Envs.JobFinished
	s.Pipes.PipelineDone = s.Envs.PipelineDone
	s.openUsage()
	return nil
}

// openDeployer starts the proxy and the Docker deployer of the
// environments: section, once; review environments and GitOps share them.
func (s *Server) openDeployer(ctx context.Context) error {
	if s.deployer != nil {
		return nil
	}
	ec, pc := s.cfg.Environments, s.cfg.Proxy
	hostnames, err := pc.hostnames()
	if err != nil {
		return err
	}
	rng := ports.DefaultRange
	if ec.Ports != "" {
		var err error
		if rng, err = ports.ParseRange(ec.Ports); err != nil {
			return fmt.Errorf("environments.ports: %w", err)
		}
	}
	if o, ok := rng.EphemeralOverlap(); ok {
		s.log.Warn("environments.ports overlaps the kernel's ephemeral ports: outgoing connections can take a reserved port first (deploys then move to another)",
			"ports", fmt.Sprintf("%d-%d", rng.Low, rng.High), "overlap", fmt.Sprintf("%d-%d", o.Low, o.High))
	}
	alloc, err := ports.New(filepath.Join(s.cfg.DataDir, "ports"), rng)
	if err != nil {
		return err
	}
	var router proxy.Router
	if pc.External.AdminURL != "" {
		if router, err = external.New(pc.External); err != nil {
			return fmt.Errorf("proxy.external: %w", err)
		}
	} else {
		if pc.Embedded.Listen == "" {
			pc.Embedded.Listen = "127.0.0.1:8081" // the server has 8080
		}
		if pc.Embedded.StorageDir == "" {
			pc.Embedded.StorageDir = filepath.Join(s.cfg.DataDir, "caddy")
		}
		r, err := embedded.Start(ctx, pc.Embedded)
		if err != nil {
			return fmt.Errorf("proxy.embedded: %w", err)
		}
		s.proxy = r
		s.registry.MustRegister(r.Collector()) // slipway_proxy_* series (docs/rollouts.md)
		router = r
	}
	s.router = router
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("environments: docker: %w", err)
	}
	s.deployer, err = dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Router: router, Hostnames: hostnames, Logger: s.log, PullAuth: s.pullAuth})
	return err
}

// proxyUnused is the warning for a proxy: section that nothing starts,
// "" when the section is empty or used: the proxy runs only for review
// environments or GitOps, and a user who configured it expects it to.
func (s *Server) proxyUnused() string {
	if s.deployer != nil || reflect.ValueOf(s.cfg.Proxy).IsZero() {
		return ""
	}
	return "the proxy: section is configured, but no proxy runs: it starts with environments: enabled: true or a gitops: config"
}

// noProxyReason says why the server has no embedded proxy.
func (s *Server) noProxyReason() string {
	switch {
	case s.cfg.Proxy.External.AdminURL != "":
		return "no embedded proxy: the routes go to the external Caddy (proxy.external.admin_url), whose CA is its own"
	case s.deployer == nil:
		return "no embedded proxy runs on this server: it starts with environments: enabled: true or a gitops: config (docs/proxy.md)"
	}
	return "no embedded proxy runs on this server"
}

// ProxyAddr is the address of the embedded proxy, "" without one.
func (s *Server) ProxyAddr() string {
	if s.proxy == nil {
		return ""
	}
	return s.proxy.Addr()
}

// environmentsPass is the controller of stopping environments: it stops
// those whose auto_stop_in has passed, and moves on every stopping one (its
// stop job starts once its deploy pipeline has ended, its end leaves it
// stopped or stop_failed). It looks at the database only, so a stop asked
// before a restart, or of another server, is carried out all the same.
func (s *Server) environmentsPass(ctx context.Context) {
	s.Envs.StopExpired(ctx, time.Now())
	s.Envs.ReconcileStops(ctx)
}

func (s *Server) routesEnvironments(mux *http.ServeMux, api func(string, func(*http.Request) (any, error))) {
	api("GET /api/projects/{project}/environments", s.listEnvironments)
	api("GET /api/environments/{id}", s.getEnvironment)
	api("GET /api/projects/{project}/environments/{environment}/usage", s.getEnvironmentUsage)
	// The proxy's routes answer without review environments too: GitOps
	// runs the proxy, and without one the 404 says why.
	api("GET /api/proxy/routes", func(r *http.Request) (any, error) {
		if s.proxy == nil {
			return nil, &httpError{http.StatusNotFound, s.noProxyReason()}
		}
		return s.proxy.List(r.Context())
	})
	mux.HandleFunc("GET /api/proxy/ca.crt", s.proxyCA)
	if s.Envs == nil {
		return
	}
	api("POST /api/environments/{id}/stop", s.stopEnvironment)
	// Called from jobs, with their CI_JOB_TOKEN instead of the API token.
	mux.HandleFunc("POST /api/job/environment/deploy", s.apiHandler(s.deployFromJob, ownAuth))
	mux.HandleFunc("POST /api/job/environment/stop", s.apiHandler(s.stopFromJob, ownAuth))
}

// proxyCA answers the PEM of the embedded proxy's local CA, which signs
// the HTTPS certificates of hostnames without a public one: browsers and
// clients import it to trust review URLs. It is a public certificate: no
// token needed.
func (s *Server) proxyCA(w http.ResponseWriter, r *http.Request) {
	if s.proxy == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": s.noProxyReason()})
		return
	}
	pem, err := s.proxy.RootCA()
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="slipway-proxy-ca.crt"`)
	w.Write(pem)
}

// environmentView is an environment as the API shows it: with its host
// key, the slipway.env label of its containers, networks and volumes.
type environmentView struct {
	store.Environment
	HostKey string `json:"host_key,omitempty"`
}

func (s *Server) environmentView(e store.Environment) environmentView {
	v := environmentView{Environment: e}
	if s.Envs != nil {
		v.HostKey = s.Envs.HostKey(e.ProjectID, e.Slug)
	}
	return v
}

func (s *Server) listEnvironments(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	envs, err := s.Store.ListEnvironments(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]environmentView, 0, len(envs))
	for _, e := range envs {
		out = append(out, s.environmentView(e))
	}
	return out, nil
}

func (s *Server) getEnvironment(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	e, err := s.Store.GetEnvironment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return s.environmentView(e), nil
}

func (s *Server) stopEnvironment(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	e, err := s.Store.GetEnvironment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.Envs.Stop(context.WithoutCancel(r.Context()), e); err != nil {
		return nil, err
	}
	return s.Store.GetEnvironment(r.Context(), id)
}

// callingJob is the running job whose CI_JOB_TOKEN the request carries:
// a job may only deploy or stop its own environment.
func (s *Server) callingJob(r *http.Request) (pipelines.JobRef, error) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ref, ok := s.Pipes.JobOfToken(token); ok {
		return ref, nil
	}
	return pipelines.JobRef{}, &httpError{http.StatusUnauthorized, "a running job's CI_JOB_TOKEN is required"}
}

func (s *Server) deployFromJob(r *http.Request) (any, error) {
	job, err := s.callingJob(r)
	if err != nil {
		return nil, err
	}
	var req env.DeployRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Job != "" && req.Job != job.Job {
		return nil, &httpError{http.StatusForbidden, fmt.Sprintf("this token belongs to job %s, not %s", job.Job, req.Job)}
	}
	req.PipelineID, req.Job = job.PipelineID, job.Job
	// The deploy outlives a client that goes away: the environment's state
	// must match what runs.
	return s.Envs.Deploy(context.WithoutCancel(r.Context()), req)
}

func (s *Server) stopFromJob(r *http.Request) (any, error) {
	job, err := s.callingJob(r)
	if err != nil {
		return nil, err
	}
	return s.Envs.StopFromJob(context.WithoutCancel(r.Context()), job.PipelineID, job.Job)
}

// jobTokens lets running pipelines push to and pull from their project's
// repositories in the embedded registry with CI_JOB_TOKEN, next to the
// tokens of a token file.
type jobTokens struct {
	s    *Server
	file registry.TokenSource
}

func (j jobTokens) LookupToken(secret string) (registry.Token, bool) {
	if ref, ok := j.s.Pipes.JobOfToken(secret); ok {
		id := ref.PipelineID
		if p, err := j.s.Store.GetPipeline(context.Background(), id); err == nil {
			if project, err := j.s.Store.GetProject(context.Background(), p.ProjectID); err == nil {
				name := pipelines.RegistryNamespace(project)
				return registry.Token{Name: fmt.Sprintf("pipeline %d", id), Repositories: []string{name, name + "/**"}, Access: "push"}, true
			}
		}
	}
	if j.file != nil {
		return j.file.LookupToken(secret)
	}
	return registry.Token{}, false
}
