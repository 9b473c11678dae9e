package kubehost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// StartGeneration starts spec as a new generation beside those running in
// the environment's namespace (created when missing) and waits until every
// service's Deployment is Ready (kstatus Current) and every exposed
// service has a ready endpoint. It changes no route and removes no other
// generation; a generation that fails to start is removed.
func (h *Host) StartGeneration(ctx context.Context, spec dockerhost.Spec) (dockerhost.Generation, error) {
	if err := dockerhost.CheckSpec(spec); err != nil {
		return dockerhost.Generation{}, err
	}
	defer h.lock(spec.Env)()
	return h.startGeneration(ctx, spec)
}

func (h *Host) startGeneration(ctx context.Context, spec dockerhost.Spec) (dockerhost.Generation, error) {
	ns, err := h.ensureNamespace(ctx, spec)
	if err != nil {
		return dockerhost.Generation{}, err
	}
	deps, err := h.deployments(ctx, ns, "")
	if err != nil {
		return dockerhost.Generation{}, err
	}
	gen := spec.FirstGeneration
	for _, d := range deps {
		if g, _ := strconv.Atoi(d.Labels[LabelGeneration]); g >= gen {
			gen = g + 1
		}
	}
	gen = max(gen, 1)
	log := h.log.With("env", spec.Env, "namespace", ns, "generation", gen)
	log.Info("kubehost: start")
	fail := func(err error) (dockerhost.Generation, error) {
		if rerr := h.removeGeneration(context.WithoutCancel(ctx), ns, gen); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return dockerhost.Generation{}, fmt.Errorf("start %s (generation %d): %w", spec.Env, gen, err)
	}
	for _, svc := range spec.Services {
		image, _, err := h.Resolve(ctx, svc.Image)
		if err != nil {
			return fail(fmt.Errorf("service %s: %w", svc.Name, err))
		}
		host := ""
		if svc.Expose && h.opts.Router != nil {
			hostSlug := spec.HostSlug
			if hostSlug == "" {
				hostSlug = spec.Env
			}
			if host, err = h.opts.Hostnames.Host(proxy.Names{EnvName: spec.Name, Env: hostSlug, Ref: spec.RefSlug}, svc.Hostname, svc.Main); err != nil {
				return fail(fmt.Errorf("service %s: %w", svc.Name, err))
			}
		}
		meta := h.objectMeta(spec, ns, svc, gen, host)
		files := filesConfigMap(meta, spec, svc)
		dep, err := h.deployment(meta, spec, svc, image, files)
		if err != nil {
			return fail(err)
		}
		// Not cut short: an object the API server makes after the deploy
		// gave up would be left behind.
		cctx := context.WithoutCancel(ctx)
		if files != nil {
			if _, err := h.opts.Client.CoreV1().ConfigMaps(ns).Create(cctx, files, metav1.CreateOptions{}); err != nil {
				return fail(fmt.Errorf("service %s: files: %w", svc.Name, err))
			}
		}
		if _, err := h.opts.Client.AppsV1().Deployments(ns).Create(cctx, dep, metav1.CreateOptions{}); err != nil {
			return fail(fmt.Errorf("service %s: %w", svc.Name, err))
		}
		if svc.Expose {
			if _, err := h.opts.Client.CoreV1().Services(ns).Create(cctx, service(meta, svc), metav1.CreateOptions{}); err != nil {
				return fail(fmt.Errorf("service %s: %w", svc.Name, err))
			}
		}
		log.Info("kubehost: created", "service", svc.Name, "image", image)
	}
	wctx, cancel := context.WithTimeout(ctx, h.opts.HealthTimeout)
	defer cancel()
	if err := h.waitReady(wctx, ns, gen, spec); err != nil {
		return fail(err)
	}
	gens, err := h.generations(ctx, ns)
	if err != nil {
		return dockerhost.Generation{}, err
	}
	for _, g := range gens {
		if g.Number == gen {
			log.Info("kubehost: ready")
			return g, nil
		}
	}
	return dockerhost.Generation{}, fmt.Errorf("start %s: generation %d vanished", spec.Env, gen)
}

// ensureNamespace creates the environment's namespace, or finds it ours.
func (h *Host) ensureNamespace(ctx context.Context, spec dockerhost.Spec) (string, error) {
	want := h.namespace(spec)
	got, err := h.opts.Client.CoreV1().Namespaces().Create(context.WithoutCancel(ctx), want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = h.opts.Client.CoreV1().Namespaces().Get(ctx, want.Name, metav1.GetOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("namespace %s: %w", want.Name, err)
	}
	if err := h.owned(got); err != nil {
		return "", err
	}
	if got.DeletionTimestamp != nil {
		return "", fmt.Errorf("namespace %s: still being deleted (a teardown of the environment has not finished)", got.Name)
	}
	return got.Name, nil
}

// owned refuses a namespace this installation did not make.
func (h *Host) owned(ns *corev1.Namespace) error {
	if ns.Labels[LabelInstallation] != h.opts.Installation || ns.Labels[LabelEnv] == "" {
		return fmt.Errorf("namespace %s exists but is not Slipway's (installation %q): not touched", ns.Name, ns.Labels[LabelInstallation])
	}
	return nil
}

// waitReady waits until each Deployment of generation gen is Current and
// each exposed service has a ready endpoint. A pod that cannot start (its
// image missing, a crash loop) fails it at once, with the kubelet's reason.
func (h *Host) waitReady(ctx context.Context, ns string, gen int, spec dockerhost.Spec) error {
	sel := h.selector(LabelGeneration, strconv.Itoa(gen))
	var last error
	for {
		if last = h.ready(ctx, ns, sel, spec); last == nil {
			return nil
		}
		var stuck podStuck
		if errors.As(last, &stuck) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w", last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// podStuck is a pod that will not become ready by waiting.
type podStuck struct{ error }

// stuckReasons are the kubelet's reasons of a container that waits for
// something waiting will not bring.
var stuckReasons = []string{"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

func (h *Host) ready(ctx context.Context, ns, sel string, spec dockerhost.Spec) error {
	pods, err := h.opts.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && slices.Contains(stuckReasons, w.Reason) {
				msg := fmt.Sprintf("service %s: pod %s: %s: %s", p.Annotations[AnnotationServiceName], p.Name, w.Reason, w.Message)
				if last := cs.LastTerminationState.Terminated; last != nil {
					msg += fmt.Sprintf(" (last exit code %d, %s)", last.ExitCode, last.Reason)
				}
				return podStuck{errors.New(msg)}
			}
		}
	}
	deps, err := h.opts.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return err
	}
	if len(deps.Items) != len(spec.Services) {
		return fmt.Errorf("%d of %d deployments", len(deps.Items), len(spec.Services))
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		res, err := kstatus(d)
		if err != nil {
			return err
		}
		if res.Status != status.CurrentStatus {
			return fmt.Errorf("service %s: %s: %s", d.Annotations[AnnotationServiceName], res.Status, res.Message)
		}
	}
	eps, err := h.endpointSlices(ctx, ns, sel)
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		if !exposed(&d) {
			continue
		}
		if len(readyAddrs(eps[d.Name])) == 0 {
			return fmt.Errorf("service %s: no ready endpoint yet", d.Annotations[AnnotationServiceName])
		}
	}
	return nil
}

// kstatus is the Deployment's status as kstatus (Flux, kubectl wait)
// computes it.
func kstatus(d *appsv1.Deployment) (*status.Result, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	return status.Compute(u)
}

// exposed tells a Deployment whose service is exposed: it has a port.
func exposed(d *appsv1.Deployment) bool {
	cs := d.Spec.Template.Spec.Containers
	return len(cs) > 0 && len(cs[0].Ports) > 0
}

// Generations returns the environment's generations, oldest first; none
// when it has no namespace. An exposed service's IP is the address of a
// ready endpoint of its generation (one replica runs per generation).
func (h *Host) Generations(ctx context.Context, env string) ([]dockerhost.Generation, error) {
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	return h.generations(ctx, h.Namespace(env))
}

func (h *Host) generations(ctx context.Context, ns string) ([]dockerhost.Generation, error) {
	deps, err := h.deployments(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	eps, err := h.endpointSlices(ctx, ns, h.selector())
	if err != nil {
		return nil, err
	}
	byGen := map[int][]dockerhost.ServiceStatus{}
	for _, d := range deps {
		g, _ := strconv.Atoi(d.Labels[LabelGeneration])
		byGen[g] = append(byGen[g], serviceStatus(&d, eps[d.Name]))
	}
	out := make([]dockerhost.Generation, 0, len(byGen))
	for g, svcs := range byGen {
		sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
		out = append(out, dockerhost.Generation{Number: g, Services: svcs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// serviceStatus is a Deployment as a generation's service.
func serviceStatus(d *appsv1.Deployment, eps []discoveryv1.EndpointSlice) dockerhost.ServiceStatus {
	s := dockerhost.ServiceStatus{
		Name:      d.Annotations[AnnotationServiceName],
		Container: d.Name,
		Host:      d.Annotations[AnnotationHost],
		Labels:    d.Labels,
		State:     "starting",
	}
	if d.Status.ReadyReplicas > 0 {
		s.State = "running"
	}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		s.Image = cs[0].Image
		if len(cs[0].Ports) > 0 {
			s.Port = int(cs[0].Ports[0].ContainerPort)
		}
	}
	// A pod not ready (yet, or any more) is still better named by its own
	// address than by none, which would read as loopback.
	if addrs := readyAddrs(eps); len(addrs) > 0 {
		s.IP = addrs[0]
	} else if addrs := allAddrs(eps); len(addrs) > 0 {
		s.IP = addrs[0]
	}
	return s
}

// deployments lists the namespace's Deployments of this installation
// matching more labels (sel, "" for none).
func (h *Host) deployments(ctx context.Context, ns, sel string) ([]appsv1.Deployment, error) {
	if sel == "" {
		sel = h.selector()
	}
	list, err := h.opts.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: list deployments: %w", ns, err)
	}
	return list.Items, nil
}

// endpointSlices are the namespace's EndpointSlices by the name of their
// Service (a generation's service).
func (h *Host) endpointSlices(ctx context.Context, ns, sel string) (map[string][]discoveryv1.EndpointSlice, error) {
	list, err := h.opts.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: list endpoint slices: %w", ns, err)
	}
	out := map[string][]discoveryv1.EndpointSlice{}
	for _, s := range list.Items {
		name := s.Labels[discoveryv1.LabelServiceName]
		out[name] = append(out[name], s)
	}
	return out, nil
}

// RemoveGeneration deletes the Deployments, Services and ConfigMaps of a
// generation; its pods stop with StopTimeout's grace. A missing generation
// is no error. Its routes are the caller's business.
func (h *Host) RemoveGeneration(ctx context.Context, env string, gen int) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	defer h.lock(env)()
	if err := h.removeGeneration(ctx, h.Namespace(env), gen); err != nil {
		return fmt.Errorf("remove %s generation %d: %w", env, gen, err)
	}
	return nil
}

func (h *Host) removeGeneration(ctx context.Context, ns string, gen int) error {
	opts := metav1.ListOptions{LabelSelector: h.selector(LabelGeneration, strconv.Itoa(gen))}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	gone := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	gone(h.opts.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, del, opts))
	gone(h.opts.Client.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, del, opts))
	svcs, err := h.opts.Client.CoreV1().Services(ns).List(ctx, opts)
	gone(err)
	if err == nil {
		for _, s := range svcs.Items {
			gone(h.opts.Client.CoreV1().Services(ns).Delete(ctx, s.Name, del))
		}
	}
	return errors.Join(errs...)
}
