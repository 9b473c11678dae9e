// Package kubehost runs the generations of environments on a Kubernetes
// cluster, as internal/env/dockerhost does on a Docker host: each
// environment gets its own namespace, each generation of its Compose
// services becomes a Deployment (and, for an exposed service, a Service)
// per service, waited Ready with kstatus, and the embedded proxy routes a
// service's hostname to the ready addresses of its generation's
// EndpointSlices. *Host implements deploy.Host, so `slipway deploy`'s
// strategies run on a cluster unchanged, and Deploy and Teardown are what
// a review environment needs.
//
// Everything it creates carries labels (installation, environment,
// generation, service), and Generations reads them back from the cluster,
// so a restarted Slipway finds its environments as it left them.
package kubehost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Labels on every namespace and object of an environment.
const (
	LabelInstallation = "slipway.dev/installation" // the Slipway installation's id
	LabelEnv          = "slipway.dev/env"          // the environment key (a slug, cut to 63)
	LabelGeneration   = "slipway.dev/generation"   // 1, 2, ...: one per deploy
	LabelService      = "slipway.dev/service"      // slug.Label of the Compose service name
)

// Annotations keep what labels cannot hold (names with slashes, hostnames).
const (
	AnnotationEnvName     = "slipway.dev/env-name"     // e.g. review/feature-x
	AnnotationServiceName = "slipway.dev/service-name" // the Compose service name
	AnnotationHost        = "slipway.dev/host"         // the service's hostname in the proxy
)

// Defaults of zero Options fields.
const (
	DefaultNamespacePrefix = "slipway-"
	DefaultHealthTimeout   = 2 * time.Minute
	DefaultDrain           = time.Second
	DefaultStopTimeout     = 10 * time.Second
)

// Options configure a Host.
type Options struct {
	// Client talks to the cluster's API server.
	Client kubernetes.Interface
	// Installation is the Slipway installation's id: it labels every
	// namespace, so two Slipways sharing a cluster never touch each
	// other's (a slug of at most 63 characters; "" for none).
	Installation string
	// NamespacePrefix starts each environment's namespace name.
	NamespacePrefix string
	// Router installs the routes; nil deploys without a proxy.
	Router proxy.Router
	// Hostnames make the routes' hostnames (needed with a Router).
	Hostnames proxy.Hostnames
	// HealthTimeout bounds the wait for a new generation to be Ready.
	HealthTimeout time.Duration
	// Drain is how long the old generation keeps running after Deploy
	// switched the routes away from it.
	Drain time.Duration
	// StopTimeout is the pods' grace between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// Logger gets one line per step; slog.Default when nil.
	Logger *slog.Logger
}

// Host runs environments on one cluster. It is safe for concurrent use;
// deploys and teardowns of one environment run one after the other.
type Host struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a Host; Client is required.
func New(opts Options) (*Host, error) {
	if opts.Client == nil {
		return nil, errors.New("kubehost: no Kubernetes client")
	}
	if opts.Installation != "" && slug.Label(opts.Installation) != opts.Installation {
		return nil, fmt.Errorf("kubehost: installation %q: %w", opts.Installation, proxy.ErrNotSlug)
	}
	if opts.NamespacePrefix == "" {
		opts.NamespacePrefix = DefaultNamespacePrefix
	}
	if p := strings.TrimSuffix(opts.NamespacePrefix, "-"); slug.Label(p) != p || len(opts.NamespacePrefix) > 30 {
		return nil, fmt.Errorf("kubehost: namespace prefix %q: want at most 30 lower-case letters, digits and dashes", opts.NamespacePrefix)
	}
	if opts.Router != nil {
		if err := opts.Hostnames.Validate(); err != nil {
			return nil, fmt.Errorf("kubehost: %w", err)
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
	return &Host{opts: opts, log: log, locks: map[string]*sync.Mutex{}}, nil
}

// lock serialises the deploys and teardowns of one environment.
func (h *Host) lock(env string) func() {
	h.mu.Lock()
	l, ok := h.locks[env]
	if !ok {
		l = &sync.Mutex{}
		h.locks[env] = l
	}
	h.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Namespace is the namespace of environment env: the prefix and the key,
// a DNS label of at most 63 characters. A key too long for it is cut and
// given a hash of the whole, so two long keys never share a namespace.
func (h *Host) Namespace(env string) string {
	return shortLabel(h.opts.NamespacePrefix + env)
}

// shortLabel is s as a DNS label of at most 63 characters (s is a slug).
func shortLabel(s string) string {
	if len(s) <= slug.RefMaxLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return strings.TrimRight(s[:slug.RefMaxLen-9], "-") + "-" + hex.EncodeToString(sum[:])[:8]
}

// PodSet selects the pods of environment env, each named after its
// Compose service, for its usage figures.
func (h *Host) PodSet(env string) usage.PodSet {
	return usage.PodSet{Namespace: h.Namespace(env), Selector: h.selector(LabelEnv, shortLabel(env)), ServiceLabel: LabelService}
}

// selector matches the objects of this installation, with more labels
// (key, value pairs).
func (h *Host) selector(kv ...string) string {
	var parts []string
	if h.opts.Installation != "" {
		parts = append(parts, LabelInstallation+"="+h.opts.Installation)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	return strings.Join(parts, ",")
}

// checkEnv refuses an environment key that is no slug.
func checkEnv(env string) error {
	return proxy.CheckSlug("environment slug", env)
}
