package kubehost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// readyAddrs are the addresses of the ready, not terminating, endpoints
// of a Service's slices, sorted. The API says a missing condition is true.
func readyAddrs(eps []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range eps {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready || e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			out = append(out, e.Addresses...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// allAddrs are the addresses of every endpoint of the slices, sorted.
func allAddrs(eps []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range eps {
		for _, e := range s.Endpoints {
			out = append(out, e.Addresses...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Upstreams is the one place that turns a generation's ready endpoint
// addresses into a route's upstreams: it replaces the upstreams of
// version in rt by one per address on port, each with the version's
// weight, and tells whether the route changed. A version left with no
// ready address loses its upstreams, unless it is the route's only one
// (the proxy then answers 502 rather than lose the route). It is kept
// small on purpose: a Gateway API implementation (HTTPRoutes' backends)
// can replace it.
func Upstreams(rt proxy.Route, version string, port int, addrs []string) (proxy.Route, bool) {
	weight, found := 0, false
	var others, mine []proxy.Upstream
	for _, u := range rt.Upstreams {
		if u.Version == version {
			if !found {
				weight, found = u.Weight, true
			}
			mine = append(mine, u)
			continue
		}
		others = append(others, u)
	}
	if !found {
		return rt, false
	}
	var fresh []proxy.Upstream
	for _, a := range addrs {
		fresh = append(fresh, proxy.Upstream{Addr: net.JoinHostPort(a, strconv.Itoa(port)), Weight: weight, Version: version})
	}
	if len(fresh) == 0 && len(others) == 0 {
		return rt, false
	}
	if slices.Equal(fresh, mine) {
		return rt, false
	}
	out := rt
	out.Upstreams = append(others, fresh...)
	return out, true
}

// Follow keeps the proxy's routes on the pods' addresses until ctx ends:
// it watches the EndpointSlices of this installation's generations and,
// when a generation's ready addresses change (a pod restarted, moved,
// failed its probe), rewrites the upstreams of that generation's version
// in the route of its service, weights unchanged.
func (h *Host) Follow(ctx context.Context) error {
	if h.opts.Router == nil {
		return errors.New("kubehost: follow: no router")
	}
	f := informers.NewSharedInformerFactoryWithOptions(h.opts.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = h.selector()
	}))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	lister := f.Discovery().V1().EndpointSlices().Lister()
	changed := make(chan *discoveryv1.EndpointSlice, 64)
	send := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			select {
			case changed <- s:
			case <-ctx.Done():
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    send,
		UpdateFunc: func(_, obj any) { send(obj) },
		DeleteFunc: send,
	}); err != nil {
		return fmt.Errorf("kubehost: follow: %w", err)
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-changed:
			all, err := lister.EndpointSlices(s.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: s.Labels[discoveryv1.LabelServiceName]}))
			if err != nil {
				h.log.Warn("kubehost: follow: list endpoint slices", "namespace", s.Namespace, "err", err)
				continue
			}
			eps := make([]discoveryv1.EndpointSlice, 0, len(all))
			for _, e := range all {
				eps = append(eps, *e)
			}
			if err := h.reroute(ctx, s.Labels, eps); err != nil {
				h.log.Warn("kubehost: follow: reroute", "namespace", s.Namespace, "service", s.Labels[LabelService], "err", err)
			}
		}
	}
}

// reroute applies the addresses of one generation's service (its slices'
// labels, copied from its Service) to the routes that send it traffic.
func (h *Host) reroute(ctx context.Context, l map[string]string, eps []discoveryv1.EndpointSlice) error {
	env, svc, version := l[LabelEnv], l[LabelService], l[LabelGeneration]
	if env == "" || svc == "" || version == "" {
		return nil
	}
	routes, err := h.opts.Router.List(ctx)
	if err != nil {
		return err
	}
	port := 0
	for _, s := range eps {
		for _, p := range s.Ports {
			if p.Port != nil {
				port = int(*p.Port)
			}
		}
	}
	if port == 0 {
		return nil
	}
	addrs := readyAddrs(eps)
	for _, rt := range routes {
		e, s, ok := proxy.ParseRouteID(rt.ID)
		if !ok || shortLabel(e) != env || s != svc {
			continue
		}
		if next, changed := Upstreams(rt, version, port, addrs); changed {
			h.log.Info("kubehost: endpoints changed; route follows", "route", rt.ID, "version", version, "addrs", addrs)
			if err := h.opts.Router.Apply(ctx, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// routeID is the route of an exposed service of env.
func routeID(env, service string) (string, error) {
	return proxy.RouteID(env, slug.Label(service))
}

// removeRoutes removes env's routes not in keep.
func (h *Host) removeRoutes(ctx context.Context, env string, keep map[string]bool) error {
	routes, err := h.opts.Router.List(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	var errs []error
	for _, rt := range routes {
		if e, _, ok := proxy.ParseRouteID(rt.ID); ok && e == env && !keep[rt.ID] {
			if err := h.opts.Router.Remove(ctx, rt.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove route %s: %w", rt.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}
