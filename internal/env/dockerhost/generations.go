package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The generation primitives let a rollout strategy (internal/deploy) run
// generations side by side and route between them itself: StartGeneration
// starts one and waits until it is healthy without touching the routes,
// RemoveGeneration removes one, Generations lists them. Deploy is the
// switch that uses them one way.

// Generation is one generation of an environment's containers.
type Generation struct {
	Number int
	// Services are its containers, sorted by service name; Image is pinned
	// by digest, Port and Host are set for exposed services.
	Services []ServiceStatus
}

// Images maps each service of the generation to its image, pinned by
// digest.
func (g Generation) Images() map[string]string {
	out := map[string]string{}
	for _, s := range g.Services {
		out[s.Name] = s.Image
	}
	return out
}

// StartGeneration starts spec as a new generation beside those running and
// waits until every exposed service answers its health check. It changes
// no route and removes no other generation; a generation that fails to
// start is removed.
func (d *Deployer) StartGeneration(ctx context.Context, spec Spec) (Generation, error) {
	if err := CheckSpec(spec); err != nil {
		return Generation{}, err
	}
	defer d.lock(spec.Env)()
	old, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: envFilter(spec.Env)})
	if err != nil {
		return Generation{}, fmt.Errorf("start %s: list containers: %w", spec.Env, err)
	}
	gen := max(nextGeneration(old.Items), spec.FirstGeneration)
	if _, err := d.startGeneration(ctx, spec, gen, old.Items, d.log.With("env", spec.Env, "generation", gen)); err != nil {
		return Generation{}, fmt.Errorf("start %s (generation %d): %w", spec.Env, gen, err)
	}
	gens, err := d.Generations(ctx, spec.Env)
	if err != nil {
		return Generation{}, err
	}
	for _, g := range gens {
		if g.Number == gen {
			return g, nil
		}
	}
	return Generation{}, fmt.Errorf("start %s: generation %d vanished", spec.Env, gen)
}

// nextGeneration is one more than the newest generation of cs.
func nextGeneration(cs []container.Summary) int {
	gen := 1
	for _, c := range cs {
		if g, _ := strconv.Atoi(c.Labels[LabelGeneration]); g >= gen {
			gen = g + 1
		}
	}
	return gen
}

// startGeneration starts the containers of spec as generation gen and
// waits until they are healthy; on error it removes what it started.
func (d *Deployer) startGeneration(ctx context.Context, spec Spec, gen int, old []container.Summary, log *slog.Logger) ([]started, error) {
	log.Info("deploy: start")
	earlier, err := d.earlierPulled(ctx, old)
	if err != nil {
		return nil, err
	}
	if err := d.ensureNetwork(ctx, spec); err != nil {
		return nil, err
	}
	if err := d.ensureVolumes(ctx, spec); err != nil {
		return nil, err
	}
	var news []started
	fail := func(err error) ([]started, error) {
		d.removeGeneration(context.WithoutCancel(ctx), spec.Env, news, gen)
		return nil, err
	}
	for _, svc := range spec.Services {
		s, err := d.startOnAFreePort(ctx, spec, svc, gen, earlier)
		if s.id != "" || s.port != 0 {
			news = append(news, s)
		}
		if err != nil {
			return fail(fmt.Errorf("service %s: %w", svc.Name, err))
		}
		log.Info("deploy: started", "service", svc.Name, "port", s.port)
	}
	hctx, cancel := context.WithTimeout(ctx, d.opts.HealthTimeout)
	defer cancel()
	for _, s := range news {
		if err := d.waitHealthy(hctx, s); err != nil {
			return fail(fmt.Errorf("service %s: %w", s.svc.Name, err))
		}
	}
	return news, nil
}

// Generations returns the environment's generations, oldest first; none
// when it has no container.
func (d *Deployer) Generations(ctx context.Context, env string) ([]Generation, error) {
	res, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: envFilter(env)})
	if err != nil {
		return nil, fmt.Errorf("generations of %s: list containers: %w", env, err)
	}
	byGen := map[int][]ServiceStatus{}
	for _, c := range res.Items {
		g, _ := strconv.Atoi(c.Labels[LabelGeneration])
		byGen[g] = append(byGen[g], serviceStatus(c))
	}
	out := make([]Generation, 0, len(byGen))
	for g, svcs := range byGen {
		sortedServices(svcs)
		out = append(out, Generation{Number: g, Services: svcs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// RemoveGeneration stops and removes the containers of a generation,
// releases their ports and removes the images it pulled unless another
// generation or container uses them; a missing generation is no error. Its
// routes are the caller's business.
func (d *Deployer) RemoveGeneration(ctx context.Context, env string, gen int) error {
	defer d.lock(env)()
	f := envFilter(env).Add("label", LabelGeneration+"="+strconv.Itoa(gen))
	res, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("remove %s generation %d: list containers: %w", env, gen, err)
	}
	var errs []error
	var pulled []pulledImage // by this generation: earlier ones are the others' to remove
	for _, c := range res.Items {
		if ref := c.Labels[LabelPulled]; ref != "" {
			pulled = append(pulled, pulledImage{Ref: ref, Image: c.Labels[LabelImage]})
		}
		if err := d.removeContainer(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
		if err := d.opts.Ports.Release(ctx, env, portOwner(c.Labels[LabelService], gen)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove %s generation %d: %w", env, gen, err)
	}
	d.removeImages(ctx, env, d.pulledImageNames(ctx, pulled))
	return nil
}
