// Package kube is the Kubernetes target of GitOps: it connects to a
// cluster (a kubeconfig's context, or the pod's own service account) and
// applies a set of objects with server-side apply (field manager slipway)
// through Flux's ssa engine: CRDs and namespaces first, drift corrected,
// health waited on with kstatus, and objects that left the set pruned.
//
// Every object carries the installation's id and the deployment's name in
// labels; prune deletes only objects whose labels still say they are ours,
// so two Slipways on one cluster never delete each other's objects.
package kube

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// FieldManager is the server-side apply field manager of every apply.
const FieldManager = "slipway"

// Labels on every applied object.
const (
	// LabelInstallation is the id of the Slipway installation that applied
	// the object.
	LabelInstallation = "gitops.slipway.dev/installation"
	// LabelDeployment is the GitOps deployment the object belongs to.
	LabelDeployment = "gitops.slipway.dev/deployment"
)

var quietOnce sync.Once

// Target says which cluster a deployment goes to.
type Target struct {
	// Kubeconfig is the kubeconfig file; "" with InCluster false means
	// $KUBECONFIG or ~/.kube/config, as kubectl reads them.
	Kubeconfig string
	// Context is the kubeconfig's context; "" is its current context.
	Context string
	// InCluster uses the service account of the pod Slipway runs in.
	InCluster bool
	// Namespace is given to namespaced objects that name none.
	Namespace string
}

// Cluster is a connection to one cluster.
type Cluster struct {
	Config *rest.Config
	Client client.Client
	Mapper meta.RESTMapper
	poller *polling.StatusPoller
	// verified are the objects the last pass found as git asks.
	verified verified
	// namespace is the target's default namespace.
	namespace string
}

// Connect reads the target's credentials and builds the clients; it does
// not talk to the cluster until used.
func Connect(t Target) (*Cluster, error) {
	// controller-runtime's client logs nothing we need, and prints a
	// stack trace when no logger was ever set.
	quietOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	cfg, err := t.restConfig()
	if err != nil {
		return nil, err
	}
	ns := t.Namespace
	if ns == "" {
		ns = "default"
	}
	return newCluster(cfg, ns)
}

// newCluster builds the clients on cfg.
func newCluster(cfg *rest.Config, ns string) (*Cluster, error) {
	cfg.UserAgent = "slipway-gitops"
	// No client-side rate limit: a pass over 1,000 objects at the
	// defaults (5/s), or even at 50/s, took a minute. What bounds the load
	// is the apply's concurrency (requests in flight), and the API
	// server's priority and fairness shares it out, as for kubectl.
	cfg.QPS = -1
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	poller := polling.NewStatusPoller(c, mapper, polling.Options{CustomStatusReaders: []engine.StatusReader{newJobStatusReader(mapper)}})
	return &Cluster{Config: cfg, Client: c, Mapper: mapper, poller: poller, namespace: ns}, nil
}

// manager is an ssa engine whose reads of the objects' current state go
// to reader.
func (c *Cluster) manager(reader client.Client) *ssa.ResourceManager {
	m := ssa.NewResourceManager(reader, c.poller, ssa.Owner{Field: FieldManager, Group: "gitops.slipway.dev"})
	m.SetConcurrency(applyConcurrency)
	return m
}

// applyConcurrency is how many objects are dry-run at once: with no
// client-side rate limit, the requests in flight of a pass.
const applyConcurrency = 8

// Namespace is the namespace given to objects that name none.
func (c *Cluster) Namespace() string { return c.namespace }

// HTTPClient is a client with the cluster's credentials, for libraries
// that build their own (Helm).
func (c *Cluster) HTTPClient() (*http.Client, error) { return rest.HTTPClientFor(c.Config) }

func (t Target) restConfig() (*rest.Config, error) {
	if t.InCluster {
		if t.Kubeconfig != "" || t.Context != "" {
			return nil, errors.New("kubernetes: inCluster takes no kubeconfig or context")
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: in-cluster config: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if t.Kubeconfig != "" {
		rules.ExplicitPath = t.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		where := t.Kubeconfig
		if where == "" {
			where = "the default kubeconfig"
		}
		if t.Context != "" {
			return nil, fmt.Errorf("kubernetes: %s, context %q: %w", where, t.Context, err)
		}
		return nil, fmt.Errorf("kubernetes: %s: %w", where, err)
	}
	return cfg, nil
}
