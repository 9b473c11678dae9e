// Package gateway makes the embedded proxy a Gateway API implementation
// for clusters without one of their own: a controller watches the
// GatewayClasses whose controllerName is Slipway's, their Gateways and
// the HTTPRoutes attached to them, installs each route's rules in the
// proxy with the ready EndpointSlice addresses of their backend Services
// as weighted upstreams (no kube-proxy or DNS needed), and writes the
// status conditions the Gateway API asks for. SetWeights (weights.go) is
// the split interface a rollout drives, whichever implementation carries
// the traffic.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// DefaultControllerName is the controllerName of Slipway's GatewayClasses.
const DefaultControllerName = "slipway.dev/gateway-controller"

// Config configures the controller.
type Config struct {
	// ControllerName picks the GatewayClasses the proxy implements;
	// DefaultControllerName when empty.
	ControllerName string
	// Address is the proxy's IP address, reported in the Gateways'
	// status.addresses; none when empty.
	Address string
	// Log gets what the controller could not do; slog.Default() when nil.
	Log *slog.Logger
}

// Controller runs the proxy's side of the Gateway API.
type Controller struct {
	cfg    Config
	gw     gwclient.Interface
	router proxy.Router

	kubeInformers kubeinformers.SharedInformerFactory
	gwInformers   gwinformers.SharedInformerFactory
	services      corelisters.ServiceLister
	slices        discoverylisters.EndpointSliceLister
	classes       gwlisters.GatewayClassLister
	gateways      gwlisters.GatewayLister
	routes        gwlisters.HTTPRouteLister

	kick  chan struct{}
	owned map[string]proxy.Route // the routes the controller applied, by id
}

// New returns a controller that installs routes in router. Run starts it.
func New(kube kubernetes.Interface, gw gwclient.Interface, router proxy.Router, cfg Config) *Controller {
	if cfg.ControllerName == "" {
		cfg.ControllerName = DefaultControllerName
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Controller{
		cfg: cfg, gw: gw, router: router,
		kubeInformers: kubeinformers.NewSharedInformerFactory(kube, 0),
		gwInformers:   gwinformers.NewSharedInformerFactory(gw, 0),
		kick:          make(chan struct{}, 1),
		owned:         map[string]proxy.Route{},
	}
	c.services = c.kubeInformers.Core().V1().Services().Lister()
	c.slices = c.kubeInformers.Discovery().V1().EndpointSlices().Lister()
	c.classes = c.gwInformers.Gateway().V1().GatewayClasses().Lister()
	c.gateways = c.gwInformers.Gateway().V1().Gateways().Lister()
	c.routes = c.gwInformers.Gateway().V1().HTTPRoutes().Lister()
	return c
}

// retry is how long the controller waits before it tries again what
// failed (a status write that lost a race, a route the proxy refused).
const retryAfter = time.Second

// Run watches the cluster and keeps the proxy's routes and the objects'
// status up to date until ctx ends; then it removes the routes it applied.
// Every change is handled by one pass over all objects: a pass is cheap
// next to a watch event's round trip, and never misses a dependency (an
// EndpointSlice changing the upstreams of the routes of its Service).
func (c *Controller) Run(ctx context.Context) error {
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.trigger() },
		UpdateFunc: func(any, any) { c.trigger() },
		DeleteFunc: func(any) { c.trigger() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		c.kubeInformers.Core().V1().Services().Informer(),
		c.kubeInformers.Discovery().V1().EndpointSlices().Informer(),
		c.gwInformers.Gateway().V1().GatewayClasses().Informer(),
		c.gwInformers.Gateway().V1().Gateways().Informer(),
		c.gwInformers.Gateway().V1().HTTPRoutes().Informer(),
	} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	c.kubeInformers.Start(ctx.Done())
	c.gwInformers.Start(ctx.Done())
	defer c.gwInformers.Shutdown()
	defer c.kubeInformers.Shutdown()
	for typ, ok := range c.gwInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("gateway controller: watching %s: %w (are the Gateway API CRDs installed?)", typ, ctx.Err())
		}
	}
	for typ, ok := range c.kubeInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("gateway controller: watching %s: %w", typ, ctx.Err())
		}
	}
	defer c.removeAll()
	c.trigger()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
			if err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Log.Warn("gateway controller: will try again", "after", retryAfter, "err", err)
				time.AfterFunc(retryAfter, c.trigger)
			}
		}
	}
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default: // a pass is due already and will see this change
	}
}

func (c *Controller) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id := range c.owned {
		if err := c.router.Remove(ctx, id); err != nil {
			c.cfg.Log.Warn("gateway controller: removing route", "route", id, "err", err)
		}
	}
	c.owned = map[string]proxy.Route{}
}

// Service and EndpointSlices make the informers' caches the Backends of
// Translate.
func (c *Controller) Service(ns, name string) *corev1.Service {
	s, err := c.services.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return s
}

func (c *Controller) EndpointSlices(ns, service string) []*discoveryv1.EndpointSlice {
	list, _ := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service}))
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// reconcile is one pass: classes, then routes (which the Gateways'
// listeners count), then Gateways.
func (c *Controller) reconcile(ctx context.Context) error {
	var errs []error
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, gc := range classes {
		if string(gc.Spec.ControllerName) != c.cfg.ControllerName {
			continue
		}
		ours[gc.Name] = true
		errs = append(errs, c.writeClassStatus(ctx, gc))
	}
	all, err := c.gateways.List(labels.Everything())
	if err != nil {
		return err
	}
	gateways := map[string]*gwv1.Gateway{} // namespace/name -> Gateway of our classes
	for _, g := range all {
		if ours[string(g.Spec.GatewayClassName)] {
			gateways[g.Namespace+"/"+g.Name] = g
		}
	}

	routes, err := c.routes.List(labels.Everything())
	if err != nil {
		return err
	}
	sort.Slice(routes, func(i, j int) bool {
		return routes[i].Namespace+"/"+routes[i].Name < routes[j].Namespace+"/"+routes[j].Name
	})
	attached := map[string]map[gwv1.SectionName]int32{}
	plans := make([]routePlan, 0, len(routes))
	desired := map[string]proxy.Route{}
	for _, hr := range routes {
		p := c.plan(hr, gateways, attached)
		for _, rt := range p.routes {
			if have, ok := desired[rt.ID]; ok {
				rt.Hosts = union(have.Hosts, rt.Hosts) // attached to two Gateways
			}
			desired[rt.ID] = rt
		}
		plans = append(plans, p)
	}
	// Stale routes go first: a rule that moved keeps its host and match
	// under a new id, which the old one would conflict with.
	for id := range c.owned {
		if _, ok := desired[id]; ok {
			continue
		}
		if err := c.router.Remove(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.owned, id)
	}
	applyErr := map[string]error{}
	for id, rt := range desired {
		if have, ok := c.owned[id]; ok && reflect.DeepEqual(have, rt) {
			continue
		}
		if err := c.router.Apply(ctx, rt); err != nil {
			applyErr[id] = err
			errs = append(errs, err)
			continue
		}
		c.owned[id] = rt
	}
	for _, p := range plans {
		for _, rt := range p.routes {
			if err := applyErr[rt.ID]; err != nil && p.applyErr == nil {
				p.applyErr = err
			}
		}
		errs = append(errs, c.writeRouteStatus(ctx, p))
	}
	for _, g := range gateways {
		errs = append(errs, c.writeGatewayStatus(ctx, g, attached[g.Namespace+"/"+g.Name]))
	}
	return errors.Join(errs...)
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, h := range b {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}
