// Package dockerhost deploys the services of an environment to a Docker
// host: one network per environment, containers from images pinned by
// digest, injected variables and files, host ports on 127.0.0.1 from the
// port allocator, and a route per exposed service in the proxy.
//
// Everything it creates carries labels (LabelEnv, LabelService,
// LabelGeneration, ...), and Status, List and Teardown read them back from
// Docker, so a restarted Slipway finds its environments as it left them.
//
// A redeploy is a new generation: its containers start on new ports next to
// the old ones, the routes switch once the new ones pass their health
// check, and only then does the old generation go.
package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Labels on every container, network and volume of an environment.
const (
	LabelEnv        = "slipway.env"        // the environment slug
	LabelEnvName    = "slipway.env.name"   // the environment name, e.g. review/feature-x
	LabelService    = "slipway.service"    // the Compose service name
	LabelGeneration = "slipway.generation" // 1, 2, ...: one per deploy
	LabelImage      = "slipway.image"      // the image pinned by digest
	LabelHostPort   = "slipway.host-port"  // the loopback port of an exposed service
	LabelHost       = "slipway.host"       // its hostname in the proxy
	// LabelPulled is on a container whose image a deploy of an
	// environment pulled, and names it as the Compose file did: the
	// teardown removes that name and LabelImage from the host unless a
	// container uses the image.
	LabelPulled = "slipway.image.pulled"
	// LabelPulledEarlier is on the containers of a generation: the images
	// (JSON, pulledImage) that earlier generations of the environment
	// pulled. Their containers are gone after a redeploy, their images are
	// still the environment's to remove at teardown.
	LabelPulledEarlier = "slipway.image.pulled.earlier"
)

// Defaults of zero Options fields.
const (
	DefaultHealthTimeout = 60 * time.Second
	DefaultDrain         = time.Second
	DefaultStopTimeout   = 10 * time.Second
)

// Ports reserves host ports; *ports.Allocator is one.
type Ports interface {
	Reserve(ctx context.Context, env, service string, avoid ...int) (int, error)
	Release(ctx context.Context, env, service string) error
	ReleaseEnv(ctx context.Context, env string) error
}

// Options configure a Deployer.
type Options struct {
	// Client talks to the Docker engine on this host (ports are bound to
	// its loopback and probed from here).
	Client *client.Client
	// Ports hands out the loopback ports of exposed services.
	Ports Ports
	// Router installs the routes; nil deploys without a proxy.
	Router proxy.Router
	// Hostnames make the routes' hostnames (needed with a Router).
	Hostnames proxy.Hostnames
	// HealthTimeout bounds the wait for a new generation to be healthy.
	HealthTimeout time.Duration
	// Drain is how long the old generation keeps running after the switch,
	// for the requests the proxy already sent it.
	Drain time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// PullAuth returns the X-Registry-Auth value for pulling image, "" for
	// none; nil pulls anonymously.
	PullAuth func(image string) string
	// Logger gets one line per step; slog.Default when nil.
	Logger *slog.Logger
}

// Spec is one deploy of an environment.
type Spec struct {
	// Env is the environment slug (slug.Environment of the name), or any
	// slug that keys it on this host (a server prefixes the project's).
	Env string
	// HostSlug makes the hostnames ({env_slug}); Env when empty.
	HostSlug string
	// RefSlug is {ref_slug} of the hostnames: slug.Ref of the branch or
	// tag deployed (CI_COMMIT_REF_SLUG), "" for none. With it, an
	// environment named review/... gets the seed's review-<branch> names.
	RefSlug string
	// Name is the environment name, e.g. review/feature-x, for display.
	Name string
	// Services come from the environment's Compose file.
	Services []compose.Service
	// Vars are injected into every container (CI_ENVIRONMENT_*, ...); a
	// service's own environment wins.
	Vars map[string]string
	// Files are written into every container, next to each service's own.
	Files []compose.File
	// Labels go on every container, network and volume, next to
	// Slipway's own (which win), for the caller to find its objects again.
	Labels map[string]string
	// FirstGeneration is the lowest number StartGeneration may give the
	// new generation: a caller with a history of removed generations
	// (internal/deploy) never gets one of their numbers again.
	FirstGeneration int
	// RetireInBackground makes Deploy return once the routes point at
	// the new generation, and stop and remove the previous one in the
	// background (Wait waits for it): stopping an image that ignores
	// SIGTERM takes StopTimeout, which must not hold up a GitOps pass.
	// Other deploys and teardowns of the environment wait for it.
	RetireInBackground bool
}

// Status is an environment as Docker shows it.
type Status struct {
	Env        string
	Name       string
	Generation int
	Services   []ServiceStatus
	// Leftovers counts containers of older generations still there: a
	// deploy was interrupted before it removed them.
	Leftovers int
	// Retiring counts containers of older generations that a deploy of
	// this process is stopping in the background (RetireInBackground).
	Retiring int
}

// ServiceStatus is one container of the current generation.
type ServiceStatus struct {
	Name      string
	Container string
	Image     string
	// State is Docker's: running, exited, ...
	State string
	// Port is the loopback port (exposed services), 0 otherwise.
	Port int
	// IP is where Port is reached when not on loopback: a pod's address
	// on a Kubernetes host (internal/kubehost), "" on a Docker host.
	IP string
	// Host is the hostname in the proxy, "" without one.
	Host string
	// ImageID is the ID of the image the container runs.
	ImageID string
	// Labels are the container's labels.
	Labels map[string]string
}

// Addr is the address of an exposed service (on loopback unless IP is
// set), "" otherwise.
func (s ServiceStatus) Addr() string {
	if s.Port == 0 {
		return ""
	}
	ip := s.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(s.Port))
}

// Service returns the status of the named service.
func (s Status) Service(name string) (ServiceStatus, bool) {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc, true
		}
	}
	return ServiceStatus{}, false
}

// ErrNotFound is returned by Status for an environment with no container.
var ErrNotFound = errors.New("environment not found")

// Deployer deploys environments to one Docker host. It is safe for
// concurrent use; deploys of one environment run one after the other.
type Deployer struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// retiring counts, per environment, the generations being retired in
	// the background; bg waits for them.
	retiring map[string]int
	bg       sync.WaitGroup
	// resolvedPulls maps the images Resolve pulled (pinned by digest) to
	// the tag it pulled, so that the generation that runs one marks it as
	// its own (LabelPulled), as it marks what it pulls itself.
	resolvedPulls map[string]string
}

// New returns a Deployer; Client and Ports are required.
func New(opts Options) (*Deployer, error) {
	if opts.Client == nil {
		return nil, errors.New("dockerhost: no Docker client")
	}
	if opts.Ports == nil {
		return nil, errors.New("dockerhost: no port allocator")
	}
	if opts.Router != nil {
		if err := opts.Hostnames.Validate(); err != nil {
			return nil, fmt.Errorf("dockerhost: %w", err)
		}
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = DefaultHealthTimeout
	}
	if opts.Drain <= 0 {
		opts.Drain = DefaultDrain
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Deployer{opts: opts, log: log, locks: map[string]*sync.Mutex{}, retiring: map[string]int{}}, nil
}

// lock serialises the deploys and teardowns of one environment.
func (d *Deployer) lock(env string) func() {
	d.mu.Lock()
	l, ok := d.locks[env]
	if !ok {
		l = &sync.Mutex{}
		d.locks[env] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Wait waits until the previous generations that deploys retire in the
// background are gone, or ctx ends: a process that exits before leaves
// them running.
func (d *Deployer) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { d.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("old generations still being removed: %w", ctx.Err())
	}
}

func (d *Deployer) isRetiring(env string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.retiring[env] > 0
}

// CheckSpec refuses what would make unsafe or clashing names (a
// Kubernetes host checks the same).
func CheckSpec(spec Spec) error {
	if err := proxy.CheckSlug("environment slug", spec.Env); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if len(spec.Services) == 0 {
		return fmt.Errorf("deploy %s: no service", spec.Env)
	}
	seen := map[string]string{}
	for _, s := range spec.Services {
		key := slug.Label(s.Name)
		if key == "" {
			return fmt.Errorf("deploy %s: service %q: the name has no letter or digit", spec.Env, s.Name)
		}
		if other, ok := seen[key]; ok {
			return fmt.Errorf("deploy %s: services %q and %q have the same slug %q", spec.Env, other, s.Name, key)
		}
		seen[key] = s.Name
		if s.Expose && (s.Port < 1 || s.Port > 65535) {
			return fmt.Errorf("deploy %s: service %s: exposed without a port", spec.Env, s.Name)
		}
		if s.Expose {
			if err := proxy.CheckSlug("service "+s.Name+" hostname", s.Hostname); err != nil {
				return fmt.Errorf("deploy %s: %w", spec.Env, err)
			}
		}
	}
	for _, s := range spec.Services {
		for _, m := range s.Mounts {
			if slug.Label(m.Volume) == "" {
				return fmt.Errorf("deploy %s: service %s: volume %q: the name has no letter or digit", spec.Env, s.Name, m.Volume)
			}
		}
	}
	return nil
}

// networkName is the environment's network.
func networkName(env string) string { return "slipway-env-" + env }

// volumeName is a named volume of the environment.
func volumeName(env, volume string) string { return "slipway-env-" + env + "-" + slug.Label(volume) }

// containerName is a service's container in one generation.
func containerName(env, service string, gen int) string {
	return fmt.Sprintf("slipway-env-%s-%s-%d", env, slug.Label(service), gen)
}

// portOwner is the service key under which a generation holds its port:
// two generations run side by side during a redeploy.
func portOwner(service string, gen int) string {
	return fmt.Sprintf("%s-g%d", slug.Label(service), gen)
}

// routeID is the route of an exposed service.
func routeID(env, service string) (string, error) {
	return proxy.RouteID(env, slug.Label(service))
}

func envFilter(env string) client.Filters {
	return client.Filters{}.Add("label", LabelEnv+"="+env)
}

// labels of an object of env.
func labels(spec Spec, extra ...string) map[string]string {
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelEnv] = spec.Env
	if spec.Name != "" {
		l[LabelEnvName] = spec.Name
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func sortedServices(s []ServiceStatus) {
	slices.SortFunc(s, func(a, b ServiceStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
}
