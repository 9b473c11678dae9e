package kubehost

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// Deploy brings the environment to spec as a new generation, as a review
// environment is deployed: it starts the new generation in the
// environment's namespace, waits until it is Ready, points the routes at
// its pods, then removes the previous generations after the drain. When
// the new generation fails, it is removed and the previous one keeps
// serving.
func (h *Host) Deploy(ctx context.Context, spec dockerhost.Spec) (dockerhost.Status, error) {
	if err := dockerhost.CheckSpec(spec); err != nil {
		return dockerhost.Status{}, err
	}
	defer h.lock(spec.Env)()
	ns := h.Namespace(spec.Env)
	old, err := h.generations(ctx, ns)
	if err != nil {
		return dockerhost.Status{}, err
	}
	g, err := h.startGeneration(ctx, spec)
	if err != nil {
		return dockerhost.Status{}, err
	}
	if err := h.switchRoutes(ctx, spec.Env, g); err != nil {
		// Back to the previous generation before the new one goes.
		if len(old) > 0 {
			if rerr := h.switchRoutes(context.WithoutCancel(ctx), spec.Env, old[len(old)-1]); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if rerr := h.removeGeneration(context.WithoutCancel(ctx), ns, g.Number); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return dockerhost.Status{}, fmt.Errorf("deploy %s (generation %d): %w", spec.Env, g.Number, err)
	}
	if len(old) > 0 {
		select {
		case <-time.After(h.opts.Drain):
		case <-ctx.Done():
		}
		var errs []error
		for _, o := range old {
			errs = append(errs, h.removeGeneration(context.WithoutCancel(ctx), ns, o.Number))
		}
		if err := errors.Join(errs...); err != nil {
			return dockerhost.Status{}, fmt.Errorf("deploy %s: generation %d runs, but removing the previous one: %w", spec.Env, g.Number, err)
		}
	}
	h.log.Info("kubehost: deployed", "env", spec.Env, "namespace", ns, "generation", g.Number)
	return dockerhost.Status{Env: spec.Env, Name: spec.Name, Generation: g.Number, Services: g.Services}, nil
}

// switchRoutes points each exposed service's route at the ready pods of
// generation g and removes env's other routes.
func (h *Host) switchRoutes(ctx context.Context, env string, g dockerhost.Generation) error {
	if h.opts.Router == nil {
		return nil
	}
	keep := map[string]bool{}
	for _, s := range g.Services {
		if s.Host == "" || s.Port == 0 || s.IP == "" {
			continue
		}
		id, err := routeID(env, s.Name)
		if err != nil {
			return err
		}
		keep[id] = true
		rt := proxy.Route{ID: id, Hosts: []string{s.Host}, Upstreams: []proxy.Upstream{{Addr: s.Addr(), Version: fmt.Sprint(g.Number)}}}
		if err := h.opts.Router.Apply(ctx, rt); err != nil {
			return fmt.Errorf("route %s: %w", id, err)
		}
	}
	return h.removeRoutes(ctx, env, keep)
}

// Teardown removes everything of the environment: its routes, then its
// namespace with all in it, and waits until the namespace is gone (its
// pods stopped). Tearing down a missing environment is no error; a
// namespace of that name that is not this installation's is refused.
func (h *Host) Teardown(ctx context.Context, env string) error {
	if err := checkEnv(env); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	defer h.lock(env)()
	if h.opts.Router != nil {
		// Routes first, so no request reaches a pod being removed.
		if err := h.removeRoutes(ctx, env, nil); err != nil {
			return fmt.Errorf("teardown %s: %w", env, err)
		}
	}
	name := h.Namespace(env)
	nss := h.opts.Client.CoreV1().Namespaces()
	ns, err := nss.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("teardown %s: namespace %s: %w", env, name, err)
	}
	if err := h.owned(ns); err != nil {
		return fmt.Errorf("teardown %s: %w", env, err)
	}
	// A namespace already terminating (an earlier teardown that gave up
	// waiting) is only waited for.
	if ns.DeletionTimestamp == nil {
		bg := metav1.DeletePropagationBackground
		uid := ns.UID
		err = nss.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("teardown %s: delete namespace %s: %w", env, name, err)
		}
	}
	for {
		_, err := nss.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			h.log.Info("kubehost: teardown: done", "env", env, "namespace", name)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("teardown %s: namespace %s not gone: %w", env, name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Reroute gives the proxy the routes of env's newest generation: an
// embedded proxy starts without routes when Slipway restarts, while the
// pods ran on. Routes the proxy has already change nothing.
func (h *Host) Reroute(ctx context.Context, env string) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	gens, err := h.Generations(ctx, env)
	if err != nil || len(gens) == 0 {
		return err
	}
	if err := h.switchRoutes(ctx, env, gens[len(gens)-1]); err != nil {
		return fmt.Errorf("reroute %s: %w", env, err)
	}
	return nil
}
