package dockerhost

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// started is one container of the new generation.
type started struct {
	svc  compose.Service
	id   string
	port int
	host string
	// pulled is the image the deploy pulled for it; zero when it did not.
	pulled pulledImage
}

// Deploy brings the environment to spec as a new generation: it starts the
// new containers, waits until every exposed one answers its health check,
// points the routes at them, then removes the previous generation. When the
// new generation fails, it is removed and the previous one keeps serving.
func (d *Deployer) Deploy(ctx context.Context, spec Spec) (Status, error) {
	if err := CheckSpec(spec); err != nil {
		return Status{}, err
	}
	unlock := d.lock(spec.Env)
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	cli := d.opts.Client

	old, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: envFilter(spec.Env)})
	if err != nil {
		return Status{}, fmt.Errorf("deploy %s: list containers: %w", spec.Env, err)
	}
	gen := nextGeneration(old.Items)
	log := d.log.With("env", spec.Env, "generation", gen)
	news, err := d.startGeneration(ctx, spec, gen, old.Items, log)
	if err != nil {
		// The old generation was never touched.
		return Status{}, fmt.Errorf("deploy %s (generation %d): %w", spec.Env, gen, err)
	}
	fail := func(err error) (Status, error) {
		d.removeGeneration(context.WithoutCancel(ctx), spec.Env, news, gen)
		return Status{}, fmt.Errorf("deploy %s (generation %d): %w", spec.Env, gen, err)
	}
	if err := d.switchRoutes(ctx, spec, news, gen); err != nil {
		// Some routes may point at the new generation already: back to
		// the old one before the new one goes.
		d.restoreRoutes(context.WithoutCancel(ctx), spec.Env, old.Items)
		return fail(err)
	}
	if err := d.waitServed(ctx, news); err != nil {
		d.restoreRoutes(context.WithoutCancel(ctx), spec.Env, old.Items)
		return fail(err)
	}
	log.Info("deploy: routes switched")

	if spec.RetireInBackground && len(old.Items) > 0 {
		// Renamed, they are known as retiring by a Slipway that restarts
		// before they are gone, which removes them (Reroute) rather than
		// take them for an interrupted deploy.
		d.markRetiring(ctx, old.Items)
		// The environment's lock goes with the work: its next deploy or
		// teardown waits for it, other environments do not.
		release := unlock
		unlock = nil
		d.retireInBackground(ctx, spec.Env, old.Items, release, log)
		log.Info("deploy: done; the previous generation goes in the background")
		return d.Status(ctx, spec.Env)
	}
	if err := d.retire(ctx, spec.Env, old.Items); err != nil {
		return Status{}, fmt.Errorf("deploy %s: generation %d runs, but removing the previous one: %w", spec.Env, gen, err)
	}
	log.Info("deploy: done")
	return d.Status(ctx, spec.Env)
}

// retiringSuffix ends the name of a container that a deploy retires in
// the background: traffic has left it.
const retiringSuffix = "-retiring"

// markRetiring renames the containers of cs as retiring.
func (d *Deployer) markRetiring(ctx context.Context, cs []container.Summary) {
	for _, c := range cs {
		name := strings.TrimPrefix(firstName(c.Names), "/")
		if name == "" || strings.HasSuffix(name, retiringSuffix) {
			continue
		}
		if _, err := d.opts.Client.ContainerRename(ctx, c.ID, client.ContainerRenameOptions{NewName: name + retiringSuffix}); err != nil {
			d.log.Warn("deploy: mark a container of the previous generation as retiring", "container", name, "err", err)
		}
	}
}

// retireInBackground removes cs in the background, holding env's lock
// (release is the caller's hold of it, nil to take it).
func (d *Deployer) retireInBackground(ctx context.Context, env string, cs []container.Summary, release func(), log *slog.Logger) {
	d.mu.Lock()
	d.retiring[env]++
	d.mu.Unlock()
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		if release == nil {
			release = d.lock(env)
		}
		defer release()
		if err := d.retire(context.WithoutCancel(ctx), env, cs); err != nil {
			log.Warn("deploy: generation runs, but removing the previous one", "err", err)
		}
		d.mu.Lock()
		if d.retiring[env]--; d.retiring[env] <= 0 {
			delete(d.retiring, env)
		}
		d.mu.Unlock()
		log.Info("deploy: previous generation removed")
	}()
}

// retire removes the containers of the previous generations, once the
// requests the proxy sent them have had the drain time to finish, and
// releases their ports.
func (d *Deployer) retire(ctx context.Context, env string, old []container.Summary) error {
	if len(old) == 0 {
		return nil
	}
	select {
	case <-time.After(d.opts.Drain):
	case <-ctx.Done():
	}
	var errs []error
	bctx := context.WithoutCancel(ctx)
	for _, c := range old {
		if err := d.removeContainer(bctx, c.ID); err != nil {
			errs = append(errs, err)
		}
		g, _ := strconv.Atoi(c.Labels[LabelGeneration])
		if err := d.opts.Ports.Release(bctx, env, portOwner(c.Labels[LabelService], g)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Deployer) ensureNetwork(ctx context.Context, spec Spec) error {
	name := networkName(spec.Env)
	// Docker lets two networks share a name, so look before creating.
	if _, err := d.opts.Client.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("deploy %s: inspect network %s: %w", spec.Env, name, err)
	}
	if _, err := d.opts.Client.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels(spec)}); err != nil {
		return fmt.Errorf("deploy %s: create network %s: %w", spec.Env, name, err)
	}
	return nil
}

func (d *Deployer) ensureVolumes(ctx context.Context, spec Spec) error {
	done := map[string]bool{}
	for _, svc := range spec.Services {
		for _, m := range svc.Mounts {
			name := volumeName(spec.Env, m.Volume)
			if done[name] {
				continue
			}
			done[name] = true
			// Creating an existing volume returns it: data survives redeploys.
			if _, err := d.opts.Client.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels(spec)}); err != nil {
				return fmt.Errorf("deploy %s: create volume %s: %w", spec.Env, name, err)
			}
		}
	}
	return nil
}

// portAttempts is how many host ports a service tries before its deploy fails.
const portAttempts = 4

// startOnAFreePort is start, again on another host port while the engine
// finds the reserved one taken: a port is checked free when it is reserved,
// but a program (or a container that another Slipway sharing the engine
// starts) can bind it before the container starts.
func (d *Deployer) startOnAFreePort(ctx context.Context, spec Spec, svc compose.Service, gen int, earlier string) (started, error) {
	var avoid []int
	for {
		s, err := d.start(ctx, spec, svc, gen, earlier, avoid)
		if err == nil || s.port == 0 || !portTaken(err) || len(avoid)+1 == portAttempts {
			return s, err
		}
		d.log.Warn("deploy: host port taken before the container started; trying another",
			"env", spec.Env, "service", svc.Name, "port", s.port, "err", err)
		if s.id != "" {
			if rmErr := d.removeContainer(context.WithoutCancel(ctx), s.id); rmErr != nil {
				return s, errors.Join(err, rmErr)
			}
		}
		avoid = append(avoid, s.port)
	}
}

// Host is the hostname a deploy of spec gives service svc in the proxy;
// "" for a service not exposed, or without a proxy.
func (d *Deployer) Host(spec Spec, svc compose.Service) (string, error) {
	if d.opts.Router == nil || !svc.Expose {
		return "", nil
	}
	hostSlug := spec.HostSlug
	if hostSlug == "" {
		hostSlug = spec.Env
	}
	names := proxy.Names{EnvName: spec.Name, Env: hostSlug, Ref: spec.RefSlug}
	return d.opts.Hostnames.Host(names, svc.Hostname, svc.Main)
}

// portTaken reports whether the engine refused to start a container because
// its host port is in use: by another container ("port is already
// allocated") or by another program (the bind of the engine's proxy).
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

// start creates and starts the container of svc in generation gen, on a
// host port other than those in avoid. The returned started holds what was
// made even on error, for cleanup.
func (d *Deployer) start(ctx context.Context, spec Spec, svc compose.Service, gen int, earlier string, avoid []int) (started, error) {
	s := started{svc: svc}
	image, pulled, err := d.pinPulled(ctx, svc.Image)
	if err != nil {
		return s, err
	}
	extra := []string{LabelService, svc.Name, LabelGeneration, strconv.Itoa(gen), LabelImage, image}
	ref, resolved := d.resolvedPull(image)
	if !resolved {
		ref = svc.Image
	}
	if pulled || resolved || d.pulledBefore(ctx, image) {
		extra = append(extra, LabelPulled, ref)
		s.pulled = pulledImage{Ref: ref, Image: image}
	}
	if earlier != "" {
		extra = append(extra, LabelPulledEarlier, earlier)
	}
	hostCfg := &container.HostConfig{
		Resources:     container.Resources{Memory: svc.MemoryBytes, NanoCPUs: svc.NanoCPUs},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		NetworkMode:   container.NetworkMode(networkName(spec.Env)),
	}
	cfg := &container.Config{
		Image:      image,
		Env:        environ(spec.Vars, svc.Env),
		WorkingDir: svc.WorkingDir,
		User:       svc.User,
	}
	if svc.Entrypoint != nil {
		cfg.Entrypoint = svc.Entrypoint
	}
	if svc.Command != nil {
		cfg.Cmd = svc.Command
	}
	for _, m := range svc.Mounts {
		hostCfg.Mounts = append(hostCfg.Mounts, mount.Mount{Type: mount.TypeVolume, Source: volumeName(spec.Env, m.Volume), Target: m.Target, ReadOnly: m.ReadOnly})
	}
	if svc.Expose {
		s.port, err = d.opts.Ports.Reserve(ctx, spec.Env, portOwner(svc.Name, gen), avoid...)
		if err != nil {
			return s, err
		}
		cport, err := network.ParsePort(strconv.Itoa(svc.Port) + "/tcp")
		if err != nil {
			return s, fmt.Errorf("port %d: %w", svc.Port, err)
		}
		cfg.ExposedPorts = network.PortSet{cport: {}}
		hostCfg.PortBindings = network.PortMap{cport: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(s.port)}}}
		extra = append(extra, LabelHostPort, strconv.Itoa(s.port))
		if s.host, err = d.Host(spec, svc); err != nil {
			return s, err
		} else if s.host != "" {
			extra = append(extra, LabelHost, s.host)
		}
	}
	cfg.Labels = labels(spec, extra...)
	// Not cut short: a create the engine carries out after the deploy
	// gave up would leave a container nobody knows of.
	created, err := d.opts.Client.ContainerCreate(context.WithoutCancel(ctx), client.ContainerCreateOptions{
		Name:       containerName(spec.Env, svc.Name, gen),
		Config:     cfg,
		HostConfig: hostCfg,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			// Services find each other by name, as in Compose.
			networkName(spec.Env): {Aliases: []string{svc.Name}},
		}},
	})
	if err != nil {
		return s, fmt.Errorf("create container: %w", err)
	}
	s.id = created.ID
	files := append(append([]compose.File{}, spec.Files...), svc.Files...)
	if len(files) > 0 {
		tarball, err := filesTar(files)
		if err != nil {
			return s, err
		}
		if _, err := d.opts.Client.CopyToContainer(ctx, s.id, client.CopyToContainerOptions{DestinationPath: "/", Content: tarball}); err != nil {
			return s, fmt.Errorf("write files: %w", err)
		}
	}
	if _, err := d.opts.Client.ContainerStart(ctx, s.id, client.ContainerStartOptions{}); err != nil {
		return s, fmt.Errorf("start container: %w", err)
	}
	return s, nil
}

// pin returns image by digest: as given when it has one, else the digest
// the registry gave the engine when it pulled (or pushed) it.
func (d *Deployer) pin(ctx context.Context, image string) (string, error) {
	pinned, _, err := d.pinPulled(ctx, image)
	return pinned, err
}

// pinPulled is pin, telling whether it had to pull the image.
func (d *Deployer) pinPulled(ctx context.Context, image string) (string, bool, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false, fmt.Errorf("image %q: %w", image, err)
	}
	if _, ok := named.(reference.Digested); ok {
		pulled, err := d.ensureImage(ctx, image)
		if err != nil {
			return "", false, err
		}
		return image, pulled, nil
	}
	named = reference.TagNameOnly(named)
	pulled, err := d.ensureImage(ctx, reference.FamiliarString(named))
	if err != nil {
		return "", false, err
	}
	insp, err := d.opts.Client.ImageInspect(ctx, reference.FamiliarString(named))
	if err != nil {
		return "", false, fmt.Errorf("image %s: %w", image, err)
	}
	for _, rd := range insp.RepoDigests {
		dn, err := reference.ParseNormalizedNamed(rd)
		if err == nil && dn.Name() == named.Name() {
			return rd, pulled, nil
		}
	}
	return "", false, fmt.Errorf("image %s: no digest from its registry (push it, or name it as repo@sha256:...)", image)
}

// pulledBefore tells whether a deploy, of this environment or of another
// that still runs it, pulled image: it stays an image environments pulled
// for themselves, which the last of them to go removes.
func (d *Deployer) pulledBefore(ctx context.Context, image string) bool {
	f := client.Filters{}.Add("label", LabelPulled).Add("label", LabelImage+"="+image)
	res, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	return err == nil && len(res.Items) > 0
}

// Resolve returns image pinned by digest, as Deploy would run it, and the
// ID of that image. Unlike Deploy, it pulls a tag even when the engine has
// it, so a tag pushed again resolves to its new digest.
func (d *Deployer) Resolve(ctx context.Context, image string) (pinned, id string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", image, err)
	}
	tag, before := "", ""
	if _, ok := named.(reference.Digested); !ok {
		tag = reference.FamiliarString(reference.TagNameOnly(named))
		if insp, err := d.opts.Client.ImageInspect(ctx, tag); err == nil {
			before = insp.ID
		}
		if err := d.pull(ctx, tag); err != nil {
			return "", "", err
		}
	}
	if pinned, err = d.pin(ctx, image); err != nil {
		return "", "", err
	}
	insp, err := d.opts.Client.ImageInspect(ctx, pinned)
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", pinned, err)
	}
	if tag != "" && insp.ID != before {
		// The pull brought the image: it is the deploys' own.
		d.mu.Lock()
		if d.resolvedPulls == nil {
			d.resolvedPulls = map[string]string{}
		}
		d.resolvedPulls[pinned] = tag
		d.mu.Unlock()
	}
	return pinned, insp.ID, nil
}

// resolvedPull tells whether Resolve pulled image (pinned by digest), and
// by which tag.
func (d *Deployer) resolvedPull(image string) (tag string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tag, ok = d.resolvedPulls[image]
	return tag, ok
}

// ensureImage pulls ref when the engine lacks it, and tells whether it did.
func (d *Deployer) ensureImage(ctx context.Context, ref string) (bool, error) {
	if _, err := d.opts.Client.ImageInspect(ctx, ref); err == nil {
		return false, nil
	} else if !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("image %s: %w", ref, err)
	}
	return true, d.pull(ctx, ref)
}

func (d *Deployer) pull(ctx context.Context, ref string) error {
	auth := ""
	if d.opts.PullAuth != nil {
		auth = d.opts.PullAuth(ref)
	}
	resp, err := d.opts.Client.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// environ is KEY=VALUE, sorted, vars overridden by the service's own.
func environ(vars, own map[string]string) []string {
	all := map[string]string{}
	for k, v := range vars {
		all[k] = v
	}
	for k, v := range own {
		all[k] = v
	}
	out := make([]string, 0, len(all))
	for k, v := range all {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// filesTar is a tar of files, rooted at /, with their parent folders.
func filesTar(files []compose.File) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	now := time.Now()
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("file %q: want an absolute path", f.Path)
		}
		var parents []string
		for dir := path.Dir(p); dir != "/" && !dirs[dir]; dir = path.Dir(dir) {
			parents = append([]string{dir}, parents...)
			dirs[dir] = true
		}
		for _, dir := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: dir[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: p[1:], Mode: 0o644, Size: int64(len(f.Content)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// waitHealthy waits until an exposed service answers its health check on
// its loopback port (2xx or 3xx), or accepts connections when it has no
// health path. A container that stops fails at once.
func (d *Deployer) waitHealthy(ctx context.Context, s started) error {
	if !s.svc.Expose {
		return d.waitRunning(ctx, s.id)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	hc := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last error
	for i := 0; ; i++ {
		last = probe(ctx, hc, addr, s.svc.Health)
		if last == nil {
			return nil
		}
		if i%10 == 9 {
			// A check cut short by the deadline is no crash: the
			// deadline's error below names the health check.
			if err := d.waitRunning(ctx, s.id); err != nil && ctx.Err() == nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			what := "connections on " + addr
			if s.svc.Health != "" {
				what = "GET http://" + addr + s.svc.Health
			}
			return fmt.Errorf("not healthy in time (%s): %w", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, hc *http.Client, addr, health string) error {
	if health == "" {
		var dl net.Dialer
		conn, err := dl.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+health, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func (d *Deployer) waitRunning(ctx context.Context, id string) error {
	insp, err := d.opts.Client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	// The restart policy restarts a crashed container: Running stays
	// true while it restarts, and the restart count says it crashed.
	st := insp.Container.State
	switch {
	case st == nil:
	case !st.Running || st.Restarting:
		return fmt.Errorf("container stopped (exit code %d) %s", st.ExitCode, st.Error)
	case insp.Container.RestartCount > 0:
		return fmt.Errorf("container crashed and was restarted %d times", insp.Container.RestartCount)
	}
	return nil
}

// switchRoutes points each exposed service's route at its new container
// (labelled with its generation, for the proxy's per-version metrics) and
// removes the routes of services the environment no longer has.
func (d *Deployer) switchRoutes(ctx context.Context, spec Spec, news []started, gen int) error {
	if d.opts.Router == nil {
		return nil
	}
	keep := map[string]bool{}
	for _, s := range news {
		if !s.svc.Expose {
			continue
		}
		id, err := routeID(spec.Env, s.svc.Name)
		if err != nil {
			return err
		}
		keep[id] = true
		rt := proxy.Route{ID: id, Hosts: []string{s.host}, Upstreams: []proxy.Upstream{{Addr: "127.0.0.1:" + strconv.Itoa(s.port), Version: strconv.Itoa(gen)}}}
		if err := d.opts.Router.Apply(ctx, rt); err != nil {
			return fmt.Errorf("route %s: %w", id, err)
		}
	}
	return d.removeRoutes(ctx, spec.Env, keep)
}

// restoreRoutes points the routes back at the containers of a previous
// generation, as their labels describe them.
func (d *Deployer) restoreRoutes(ctx context.Context, env string, old []container.Summary) {
	if err := d.applyRoutes(ctx, env, old); err != nil {
		d.log.Warn("deploy: restore routes", "env", env, "err", err)
	}
}

// applyRoutes gives the proxy a route to each container in cs that serves
// a hostname, as the container's labels describe it.
func (d *Deployer) applyRoutes(ctx context.Context, env string, cs []container.Summary) error {
	if d.opts.Router == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		host, port := c.Labels[LabelHost], c.Labels[LabelHostPort]
		if host == "" || port == "" {
			continue
		}
		id, err := routeID(env, c.Labels[LabelService])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rt := proxy.Route{ID: id, Hosts: []string{host}, Upstreams: []proxy.Upstream{{Addr: "127.0.0.1:" + port, Version: c.Labels[LabelGeneration]}}}
		if err := d.opts.Router.Apply(ctx, rt); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Reroute gives the proxy the routes of env's running containers (of its
// newest generation, should an interrupted deploy have left two): an
// embedded proxy starts without routes when Slipway restarts, while the
// containers ran on. Routes the proxy has already change nothing.
func (d *Deployer) Reroute(ctx context.Context, env string) error {
	if d.opts.Router == nil {
		return nil
	}
	list, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{Filters: envFilter(env)})
	if err != nil {
		return fmt.Errorf("reroute %s: list containers: %w", env, err)
	}
	newest := 0
	for _, c := range list.Items {
		if g, _ := strconv.Atoi(c.Labels[LabelGeneration]); g > newest {
			newest = g
		}
	}
	var current []container.Summary
	for _, c := range list.Items {
		if g, _ := strconv.Atoi(c.Labels[LabelGeneration]); g == newest {
			current = append(current, c)
		}
	}
	if err := d.applyRoutes(ctx, env, current); err != nil {
		return fmt.Errorf("reroute %s: %w", env, err)
	}
	d.resumeRetiring(ctx, env)
	return nil
}

// resumeRetiring removes, in the background, the retiring containers of
// env that no deploy of this process retires: a Slipway stopped before
// they were gone.
func (d *Deployer) resumeRetiring(ctx context.Context, env string) {
	if d.isRetiring(env) {
		return
	}
	all, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: envFilter(env)})
	if err != nil {
		return
	}
	var left []container.Summary
	for _, c := range all.Items {
		if strings.HasSuffix(firstName(c.Names), retiringSuffix) {
			left = append(left, c)
		}
	}
	if len(left) > 0 {
		d.retireInBackground(ctx, env, left, nil, d.log.With("env", env))
	}
}

// removeRoutes removes the env's routes not in keep.
func (d *Deployer) removeRoutes(ctx context.Context, env string, keep map[string]bool) error {
	routes, err := d.opts.Router.List(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	var errs []error
	for _, rt := range routes {
		if e, _, ok := proxy.ParseRouteID(rt.ID); ok && e == env && !keep[rt.ID] {
			if err := d.opts.Router.Remove(ctx, rt.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove route %s: %w", rt.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeGeneration removes the containers, ports and pulled images of a
// failed generation.
func (d *Deployer) removeGeneration(ctx context.Context, env string, news []started, gen int) {
	var pulled []pulledImage
	defer func() { d.removeImages(ctx, env, d.pulledImageNames(ctx, pulled)) }()
	for _, s := range news {
		if s.pulled != (pulledImage{}) {
			pulled = append(pulled, s.pulled)
		}
		if s.id != "" {
			// It never got traffic: no graceful stop.
			if _, err := d.opts.Client.ContainerRemove(ctx, s.id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				d.log.Warn("deploy: remove failed container", "env", env, "service", s.svc.Name, "err", err)
			}
		}
		if err := d.opts.Ports.Release(ctx, env, portOwner(s.svc.Name, gen)); err != nil {
			d.log.Warn("deploy: release port", "env", env, "service", s.svc.Name, "err", err)
		}
	}
}

// removeContainer stops the container gracefully, then removes it.
func (d *Deployer) removeContainer(ctx context.Context, id string) error {
	timeout := int(d.opts.StopTimeout / time.Second)
	if _, err := d.opts.Client.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("stop container", "container", id, "err", err)
	}
	if _, err := d.opts.Client.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %.12s: %w", id, err)
	}
	return nil
}

// waitServed waits until the proxy serves each exposed service of the new
// generation on its hostname, as people reach it: the health path answers
// 2xx or 3xx through the proxy (any answer but the proxy's own, without
// one). Only a proxy that tells its address (the embedded one) is asked.
func (d *Deployer) waitServed(ctx context.Context, news []started) error {
	withAddr, ok := d.opts.Router.(interface{ Addr() string })
	if !ok {
		return nil
	}
	addr := withAddr.Addr()
	ctx, cancel := context.WithTimeout(ctx, d.opts.HealthTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, s := range news {
		if !s.svc.Expose || s.host == "" {
			continue
		}
		var last error
		for {
			if last = probeVia(ctx, hc, addr, s.host, s.svc.Health); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("service %s: not served by the proxy on %s in time: %w", s.svc.Name, s.host, last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// probeVia asks the proxy at addr for host's health path.
func probeVia(ctx context.Context, hc *http.Client, addr, host, health string) error {
	path := health
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(proxy.NoRoute))+1))
	switch {
	case resp.StatusCode == http.StatusNotFound && string(body) == proxy.NoRoute:
		return errors.New("the proxy has no route for it yet")
	case resp.StatusCode == http.StatusBadGateway:
		return fmt.Errorf("the proxy cannot reach it (%s)", resp.Status)
	case health != "" && (resp.StatusCode < 200 || resp.StatusCode >= 400):
		return fmt.Errorf("GET %s through the proxy: %s", health, resp.Status)
	}
	return nil
}
