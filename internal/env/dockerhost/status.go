package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Status returns the environment's current (newest) generation as Docker
// shows it; ErrNotFound when it has no container.
func (d *Deployer) Status(ctx context.Context, env string) (Status, error) {
	if err := proxy.CheckSlug("environment slug", env); err != nil {
		return Status{}, err
	}
	all, err := d.list(ctx, envFilter(env))
	if err != nil {
		return Status{}, err
	}
	st, ok := all[env]
	if !ok {
		return Status{}, fmt.Errorf("environment %s: %w", env, ErrNotFound)
	}
	return st, nil
}

// List returns every environment on the host, sorted by slug.
func (d *Deployer) List(ctx context.Context) ([]Status, error) {
	all, err := d.list(ctx, client.Filters{}.Add("label", LabelEnv))
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(all))
	for _, st := range all {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

func (d *Deployer) list(ctx context.Context, f client.Filters) (map[string]Status, error) {
	res, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	byEnv := map[string][]container.Summary{}
	for _, c := range res.Items {
		byEnv[c.Labels[LabelEnv]] = append(byEnv[c.Labels[LabelEnv]], c)
	}
	out := map[string]Status{}
	for env, cs := range byEnv {
		retiring := d.isRetiring(env)
		st := Status{Env: env}
		for _, c := range cs {
			if g, _ := strconv.Atoi(c.Labels[LabelGeneration]); g > st.Generation {
				st.Generation = g
			}
		}
		for _, c := range cs {
			if g, _ := strconv.Atoi(c.Labels[LabelGeneration]); g != st.Generation {
				if retiring || strings.HasSuffix(firstName(c.Names), retiringSuffix) {
					st.Retiring++
				} else {
					st.Leftovers++
				}
				continue
			}
			st.Name = c.Labels[LabelEnvName]
			st.Services = append(st.Services, serviceStatus(c))
		}
		sortedServices(st.Services)
		out[env] = st
	}
	return out, nil
}

// serviceStatus is a container as its labels and Docker describe it.
func serviceStatus(c container.Summary) ServiceStatus {
	port, _ := strconv.Atoi(c.Labels[LabelHostPort])
	name := ""
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	return ServiceStatus{
		Name:      c.Labels[LabelService],
		Container: name,
		Image:     c.Labels[LabelImage],
		State:     string(c.State),
		Port:      port,
		Host:      c.Labels[LabelHost],
		ImageID:   c.ImageID,
		Labels:    c.Labels,
	}
}

// Teardown removes everything of the environment: containers of every
// generation, its network and volumes, its routes and port reservations,
// and the images its deploys pulled (unless a container uses them).
// It goes on after an error and returns them all; calling it again
// finishes the job. Tearing down a missing environment is no error.
func (d *Deployer) Teardown(ctx context.Context, env string) error {
	if err := proxy.CheckSlug("environment slug", env); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	defer d.lock(env)()
	cli := d.opts.Client
	f := envFilter(env)
	var errs []error
	// Routes first, so no request reaches a container being removed.
	if d.opts.Router != nil {
		if err := d.removeRoutes(ctx, env, nil); err != nil {
			errs = append(errs, err)
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	var pulled map[string][]string // image ID: the names it was pulled by
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	} else {
		// Those of earlier generations too, which the containers remember.
		pulled = d.pulledImageNames(ctx, pulledBy(cs.Items))
		for _, c := range cs.Items {
			if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			}
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	} else {
		for _, n := range ns.Items {
			if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			}
		}
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else {
		for _, v := range vs.Items {
			if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			}
		}
	}
	if err := d.opts.Ports.ReleaseEnv(ctx, env); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("teardown %s: %w", env, err)
	}
	// Last, and no failure of the teardown: the environment is gone.
	d.removeImages(ctx, env, pulled)
	d.log.Info("teardown: done", "env", env)
	return nil
}
