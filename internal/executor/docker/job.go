package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/owner"
)

// apiTimeout bounds the engine calls that must finish even when the job's
// context has ended: creating (so nothing is created behind our back after
// we stopped looking) and removing.
const apiTimeout = time.Minute

// configError is a mistake in the job's configuration, not a failure of
// the executor: it is not a runner system failure.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// job is one Run: what it created, so that it can all be removed.
type job struct {
	cli        *client.Client
	opts       *Options
	probe      bool
	spec       *executor.Spec
	out        io.Writer
	env        map[string]string
	labels     map[string]string
	name       string // prefix of container and network names
	projectDir string

	network    string   // name of the job's network, "" when it has no services
	containers []string // ids, services first, the job's container last
	main       string   // the job's container id
	// dirty is set when a create call failed: the engine may have created
	// something we have no id for, so cleanup sweeps by label too.
	dirty bool
	// longScript is a script too long for the container's command, to
	// copy in before the start.
	longScript string

	// Services' log followers (CI_DEBUG_SERVICES).
	logs     sync.WaitGroup
	stopLogs []context.CancelFunc
}

// Run implements executor.Executor: it starts the services and the job's
// container, runs spec.Script then spec.AfterScript in it, and removes all
// it created, whatever happened.
func (e *Executor) Run(ctx context.Context, spec *executor.Spec) (executor.Result, error) {
	j := e.newJob(spec)
	defer j.cleanup(ctx)

	if err := j.prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return executor.Result{ExitCode: -1}, ctx.Err()
		}
		return executor.Result{ExitCode: -1, SystemFailure: !errors.As(err, new(configError))}, fmt.Errorf("job %s: %w", spec.JobName, err)
	}

	code, runErr := j.runStep(ctx)
	res := executor.Result{ExitCode: code}
	if runErr != nil && ctx.Err() == nil {
		res.SystemFailure = true
		runErr = fmt.Errorf("job %s: %w", spec.JobName, runErr)
	}
	if len(spec.AfterScript) > 0 {
		j.afterScript(ctx, jobStatus(ctx, code, runErr))
	}
	// A script that finished keeps its result even when ctx ended during
	// after_script, as with the shell executor.
	return res, runErr
}

func (e *Executor) newJob(spec *executor.Spec) *job {
	projectDir := spec.ProjectDir
	if projectDir == "" {
		projectDir = e.ProjectDir(spec.Dir)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	return &job{
		cli:   e.cli,
		opts:  &e.opts,
		probe: e.probe,
		spec:  spec,
		out:   spec.SharedLog(),
		env:   spec.Vars(),
		labels: map[string]string{
			LabelManaged: "true",
			LabelJob:     spec.ID,
			LabelJobName: spec.JobName,
			LabelOwner:   owner.This(),
		},
		// Two Slipways (or test runs) may use the same job ID on one engine.
		name:       "slipway-" + strings.TrimPrefix(spec.ID, "slipway-") + "-" + hex.EncodeToString(suffix[:]),
		projectDir: projectDir,
	}
}

func (j *job) expand(s string) string {
	return expand.Expand(s, func(name string) (string, bool) {
		v, ok := j.env[name]
		return v, ok
	})
}

// background is a context for calls that must complete even after ctx
// ended (see apiTimeout).
func background(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
}

// prepare makes the images available, starts the services on the job's
// network, then the job's container.
func (j *job) prepare(ctx context.Context) error {
	image, policies, err := j.image()
	if err != nil {
		return err
	}
	if err := j.ensureImage(ctx, "", image, policies); err != nil {
		return err
	}
	services := make([]ci.Service, len(j.spec.Services))
	for i, s := range j.spec.Services {
		s.Name = j.expand(s.Name)
		if s.Name == "" {
			return configError{fmt.Errorf("services[%d]: name is empty", i)}
		}
		if err := j.ensureImage(ctx, fmt.Sprintf("services[%d]", i), s.Name, j.opts.PullPolicy); err != nil {
			return err
		}
		services[i] = s
	}
	if len(services) > 0 {
		if err := j.createNetwork(ctx); err != nil {
			return err
		}
		for i, s := range services {
			if err := j.startService(ctx, i, s); err != nil {
				return err
			}
		}
		j.waitForServices(ctx, services)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return j.createMain(ctx, image)
}

// ensureImage pulls ref as policies say, with the credentials the job's
// DOCKER_AUTH_CONFIG variable has for its registry. field prefixes errors
// ("services[1]").
func (j *job) ensureImage(ctx context.Context, field, ref string, policies []string) error {
	auth, err := registryAuth(j.env["DOCKER_AUTH_CONFIG"], ref)
	if err != nil {
		return configError{err}
	}
	err = ensureImage(ctx, j.cli, ref, auth, policies, j.out)
	if err != nil && field != "" {
		err = fmt.Errorf("%s: %w", field, err)
	}
	return err
}

// image is the job's image and pull policies, or the executor's default.
func (j *job) image() (string, []string, error) {
	policies := j.opts.PullPolicy
	img := j.spec.Image
	if img == nil || img.Name == "" {
		if j.opts.DefaultImage == "" {
			return "", nil, configError{errors.New("the job has no image: and the docker executor has no default image")}
		}
		return j.opts.DefaultImage, policies, nil
	}
	if len(img.PullPolicy) > 0 {
		if err := checkPullPolicies("image:pull_policy", img.PullPolicy); err != nil {
			return "", nil, configError{err}
		}
		policies = img.PullPolicy
	}
	name := j.expand(img.Name)
	if name == "" {
		return "", nil, configError{fmt.Errorf("image:name %q expands to nothing", img.Name)}
	}
	return name, policies, nil
}

func (j *job) createNetwork(ctx context.Context) error {
	bctx, cancel := background(ctx)
	defer cancel()
	name := j.name
	if _, err := j.cli.NetworkCreate(bctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: j.labels}); err != nil {
		j.dirty = true
		return fmt.Errorf("create network %s: %w", name, err)
	}
	j.network = name
	return nil
}

// create creates one container, recording it for cleanup.
func (j *job) create(ctx context.Context, what string, opts client.ContainerCreateOptions) (string, error) {
	bctx, cancel := background(ctx)
	defer cancel()
	created, err := j.cli.ContainerCreate(bctx, opts)
	if err != nil {
		j.dirty = true
		return "", fmt.Errorf("create %s container: %w", what, err)
	}
	j.containers = append(j.containers, created.ID)
	return created.ID, nil
}

func (j *job) startService(ctx context.Context, i int, s ci.Service) error {
	env := append([]string(nil), j.spec.Env...)
	for _, v := range s.Variables {
		val := v.Value
		if !v.Raw {
			val = j.expand(val)
		}
		env = append(env, v.Name+"="+val)
	}
	aliases := executor.ServiceAliases(s)
	fmt.Fprintf(j.out, "Starting service %s as %s\n", s.Name, strings.Join(aliases, ", "))
	id, err := j.create(ctx, "service "+s.Name, client.ContainerCreateOptions{
		Name: fmt.Sprintf("%s-svc%d", j.name, i),
		Config: &container.Config{
			Image:      s.Name,
			Entrypoint: s.Entrypoint,
			Cmd:        s.Command,
			Env:        env,
			Labels:     j.labels,
		},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(j.network)},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			j.network: {Aliases: aliases},
		}},
	})
	if err != nil {
		return fmt.Errorf("services[%d]: %w", i, err)
	}
	bctx, cancel := background(ctx)
	defer cancel()
	if _, err := j.cli.ContainerStart(bctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("services[%d]: start: %w", i, err)
	}
	if j.env["CI_DEBUG_SERVICES"] == "true" {
		name := s.Name
		if len(aliases) > 0 {
			name = aliases[0]
		}
		j.followServiceLogs(id, name)
	}
	return nil
}

// createMain creates the job's container; see runStep for what it runs.
func (j *job) createMain(ctx context.Context, image string) error {
	var entrypoint []string
	if j.spec.Image != nil {
		entrypoint = j.spec.Image.Entrypoint
	}
	host := &container.HostConfig{Binds: j.opts.Volumes}
	if j.spec.Dir != "" {
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: j.spec.Dir, Target: j.projectDir}}
	}
	var netConfig *network.NetworkingConfig
	if j.network != "" {
		// Services reach the job's container as "build", as in GitLab's
		// network-per-build mode (a browser service testing the app, say).
		host.NetworkMode = container.NetworkMode(j.network)
		netConfig = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			j.network: {Aliases: []string{"build"}},
		}}
	}
	cmd, err := j.mainCommand(ctx)
	if err != nil {
		return err
	}
	id, err := j.create(ctx, "job", client.ContainerCreateOptions{
		Name: j.name,
		Config: &container.Config{
			Image:        image,
			Entrypoint:   entrypoint,
			Cmd:          cmd,
			AttachStdout: true,
			AttachStderr: true,
			Env:          j.spec.Env,
			WorkingDir:   j.projectDir,
			Labels:       j.labels,
		},
		HostConfig:       host,
		NetworkingConfig: netConfig,
	})
	if err != nil {
		return err
	}
	j.main = id
	if j.longScript != "" {
		bctx, cancel := background(ctx)
		defer cancel()
		return j.copyScript(bctx, "script.sh", j.longScript)
	}
	return nil
}

// cleanup removes everything the job created, even after ctx ended.
func (j *job) cleanup(ctx context.Context) {
	bctx, cancel := background(ctx)
	defer cancel()
	var errs []error
	for i := len(j.containers) - 1; i >= 0; i-- {
		errs = append(errs, removeContainer(bctx, j.cli, j.containers[i]))
	}
	j.stopFollowingLogs()
	if j.network != "" {
		errs = append(errs, removeNetwork(bctx, j.cli, j.network))
	}
	if j.dirty {
		errs = append(errs, removeJob(bctx, j.cli, j.spec.ID))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(j.out, "WARNING: cleanup: %v\n", err)
		slog.Warn("docker: job cleanup", "job", j.spec.JobName, "id", j.spec.ID, "err", err)
	}
}
