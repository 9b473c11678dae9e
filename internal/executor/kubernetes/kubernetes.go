// Package kubernetes is the executor that runs each job attempt as one pod,
// following GitLab Runner's Kubernetes executor: a build container of the
// job's image, its services as containers of the same pod, and a helper
// container of Slipway's own (the slipway binary, see package helper) that
// moves the working copy in before the script and out after it. Scripts run
// through exec, so their output streams live into the job log.
//
// Pods are labelled (LabelManaged, LabelJob, LabelInstallation) and carry
// the process that made them (AnnotationOwner): what a killed Slipway left
// behind is deleted by the next New or CleanupLeftovers.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/go-logr/logr"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Defaults for zero Options fields.
const (
	DefaultNamespace          = "default"
	DefaultBuildsDir          = "/builds"
	DefaultProjectName        = "project"
	DefaultStartTimeout       = 3 * time.Minute
	DefaultAfterScriptTimeout = 5 * time.Minute
)

// Options configure an Executor; the YAML names are those of the
// `kubernetes:` section of slipway's configuration files.
type Options struct {
	// Kubeconfig and Context select the cluster; empty: KUBECONFIG or
	// ~/.kube/config, and its current context. InCluster uses the pod's
	// service account instead (Slipway running in the cluster).
	Kubeconfig string `yaml:"kubeconfig"`
	Context    string `yaml:"context"`
	InCluster  bool   `yaml:"in_cluster"`
	// Namespace of the jobs' pods; empty: the context's, else "default".
	Namespace string `yaml:"namespace"`
	// HelperImage is the image of the helper container: `slipway
	// kubernetes helper-image` makes it from the slipway binary.
	HelperImage string `yaml:"helper_image"`
	// Image runs jobs that have no `image:`.
	Image string `yaml:"image"`
	// PullPolicy of the pod's images: Always, IfNotPresent (default) or Never.
	PullPolicy string `yaml:"pull_policy"`
	// BuildsDir/ProjectName is the job's working copy in the pod.
	BuildsDir   string `yaml:"builds_dir"`
	ProjectName string `yaml:"project_name"`
	// StartTimeout bounds the wait for the pod to be scheduled and its
	// containers to start (GitLab's poll_timeout); a pod no node takes
	// fails the job with the scheduler's reason then.
	StartTimeout time.Duration `yaml:"start_timeout"`

	// Resources are the containers' requests and limits; jobs may
	// overwrite them with KUBERNETES_* variables up to MaxOverwrite.
	Resources    ContainerResources `yaml:"resources"`
	MaxOverwrite ContainerResources `yaml:"max_overwrite"`

	NodeSelector     map[string]string `yaml:"node_selector"`
	Tolerations      []Toleration      `yaml:"tolerations"`
	Labels           map[string]string `yaml:"labels"`
	Annotations      map[string]string `yaml:"annotations"`
	ServiceAccount   string            `yaml:"service_account"`
	ImagePullSecrets []string          `yaml:"image_pull_secrets"`

	// Installation names this Slipway (the server's name, or the host of
	// `slipway run`) in the pods' labels.
	Installation string `yaml:"-"`
}

// Toleration is a pod toleration, as in a pod spec.
type Toleration struct {
	Key               string `yaml:"key"`
	Operator          string `yaml:"operator"`
	Value             string `yaml:"value"`
	Effect            string `yaml:"effect"`
	TolerationSeconds *int64 `yaml:"toleration_seconds"`
}

// Executor runs jobs as pods. Its methods are safe for concurrent use.
type Executor struct {
	cs   k8s.Interface
	rest *rest.Config
	opts Options
}

// New connects to the cluster, checks that the namespace's pods can be
// listed, and deletes the pods a killed Slipway left there.
func New(ctx context.Context, opts Options) (*Executor, error) {
	quietClientGo()
	cfg, ns, err := restConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	if opts.Namespace == "" {
		opts.Namespace = ns
	}
	if opts.HelperImage == "" {
		return nil, errors.New("kubernetes executor: helper_image is not set (make one with `slipway kubernetes helper-image`)")
	}
	if err := opts.defaults(); err != nil {
		return nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	// client-go's default of 5 requests a second (burst 10) queues the
	// calls of a few jobs at once; kubectl's defaults fit a CI's load.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 300
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	e := &Executor{cs: cs, rest: cfg, opts: opts}
	if _, err := cs.CoreV1().Pods(opts.Namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return nil, fmt.Errorf("kubernetes executor: pods of namespace %s at %s: %w", opts.Namespace, cfg.Host, err)
	}
	if err := CleanupLeftovers(ctx, cs, opts.Namespace); err != nil {
		slog.Warn("kubernetes executor: clean up leftovers", "err", err)
	}
	return e, nil
}

// quietClientGo silences client-go's own log (klog): it reports on
// stderr what the executor returns as errors anyway, and the end of a
// canceled job's exec stream as a failure.
var quietClientGo = sync.OnceFunc(func() { klog.SetLogger(logr.Discard()) })

func (o *Options) defaults() error {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.BuildsDir == "" {
		o.BuildsDir = DefaultBuildsDir
	}
	if o.ProjectName == "" {
		o.ProjectName = DefaultProjectName
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	switch o.PullPolicy {
	case "":
		o.PullPolicy = "IfNotPresent"
	case "Always", "IfNotPresent", "Never":
	default:
		return fmt.Errorf("pull_policy %q: one of Always, IfNotPresent, Never", o.PullPolicy)
	}
	if !path.IsAbs(o.BuildsDir) {
		return fmt.Errorf("builds_dir %q: want an absolute path", o.BuildsDir)
	}
	for _, r := range []struct {
		field string
		res   ContainerResources
	}{{"resources", o.Resources}, {"max_overwrite", o.MaxOverwrite}} {
		if err := r.res.check(r.field); err != nil {
			return err
		}
	}
	return nil
}

// restConfig is the client configuration and the namespace of the
// kubeconfig's context ("" when it has none).
func restConfig(o Options) (*rest.Config, string, error) {
	if o.InCluster {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster configuration: %w", err)
		}
		return cfg, "", nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, ns, nil
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "kubernetes" }

// Namespace is where the executor's pods run.
func (e *Executor) Namespace() string { return e.opts.Namespace }

// Client is the executor's clientset.
func (e *Executor) Client() k8s.Interface { return e.cs }

// ProjectDir is where a job's working copy is in its pod (the engine's
// ProjectDirer): the same for every job, as in GitLab.
func (e *Executor) ProjectDir(string) string {
	return path.Join(e.opts.BuildsDir, e.opts.ProjectName)
}
