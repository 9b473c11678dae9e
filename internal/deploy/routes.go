package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// share is a generation and its weight in the routes.
type share struct {
	gen    dockerhost.Generation
	weight int
}

// version is a generation's label in the routes and the metrics.
func version(gen int) string { return strconv.Itoa(gen) }

// route points the environment's routes at the shares: each exposed
// service's route gets an upstream per share that runs it, with the share's
// weight. Routes of services that no share runs are removed.
func (r *Runner) route(ctx context.Context, env string, shares ...share) error {
	if r.opts.Router == nil {
		return errors.New("deploy: no router")
	}
	routes := map[string]*proxy.Route{}
	var order []string
	for _, sh := range shares {
		for _, s := range sh.gen.Services {
			if s.Host == "" || s.Port == 0 {
				continue
			}
			id, err := proxy.RouteID(env, slug.Label(s.Name))
			if err != nil {
				return err
			}
			rt, ok := routes[id]
			if !ok {
				rt = &proxy.Route{ID: id, Hosts: []string{s.Host}}
				routes[id] = rt
				order = append(order, id)
			}
			rt.Upstreams = append(rt.Upstreams, proxy.Upstream{Addr: s.Addr(), Weight: sh.weight, Version: version(sh.gen.Number)})
		}
	}
	var errs []error
	for _, id := range order {
		if err := r.opts.Router.Apply(ctx, *routes[id]); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", id, err))
		}
	}
	all, err := r.opts.Router.List(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list routes: %w", err))...)
	}
	for _, rt := range all {
		if e, _, ok := proxy.ParseRouteID(rt.ID); ok && e == env && routes[rt.ID] == nil {
			if err := r.opts.Router.Remove(ctx, rt.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove route %s: %w", rt.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// stats sums the proxy's counts of a generation over its routes.
func (r *Runner) stats(env string, g dockerhost.Generation) proxy.Stats {
	var sum proxy.Stats
	for _, s := range g.Services {
		if s.Host == "" {
			continue
		}
		id, err := proxy.RouteID(env, slug.Label(s.Name))
		if err != nil {
			continue
		}
		sum = sum.Add(r.opts.Metrics.Stats(id)[version(g.Number)])
	}
	return sum
}

// smoke asks path of each exposed service of g on its own port, before it
// gets any traffic.
func smoke(ctx context.Context, g dockerhost.Generation, path string) error {
	if path == "" {
		return nil
	}
	// A redirect is the answer: followed, a 302 to a login page (or off
	// this host) would pass for the generation's 2xx.
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, s := range g.Services {
		if s.Port == 0 {
			continue
		}
		url := "http://" + s.Addr() + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("smoke check of %s: %w", s.Name, err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("smoke check of %s: %w", s.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("smoke check of %s: GET %s: %s", s.Name, path, resp.Status)
		}
	}
	return nil
}
