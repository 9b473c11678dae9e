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

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/executor"
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
	dirty   bool
	scripts int // long scripts copied in so far

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

	code, runErr := j.exec(ctx, spec.Script, nil)
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
	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	env := make(map[string]string, len(spec.Env))
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
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
		out:   &lockedWriter{w: out},
		env:   env,
		labels: map[string]string{
			LabelManaged: "true",
			LabelJob:     spec.ID,
			LabelJobName: spec.JobName,
			LabelOwner:   owner(),
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
	return j.startMain(ctx, image)
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

// create creates and starts one container, recording it for cleanup.
func (j *job) create(ctx context.Context, what string, opts client.ContainerCreateOptions) (string, error) {
	bctx, cancel := background(ctx)
	defer cancel()
	created, err := j.cli.ContainerCreate(bctx, opts)
	if err != nil {
		j.dirty = true
		return "", fmt.Errorf("create %s container: %w", what, err)
	}
	j.containers = append(j.containers, created.ID)
	if _, err := j.cli.ContainerStart(bctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("start %s container: %w", what, err)
	}
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
	aliases := serviceAliases(s)
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
	if j.env["CI_DEBUG_SERVICES"] == "true" {
		name := s.Name
		if len(aliases) > 0 {
			name = aliases[0]
		}
		j.followServiceLogs(id, name)
	}
	return nil
}

// startMain starts the job's container: a shell waiting on its stdin (an
// open pipe nobody writes to) keeps it up while the scripts run with exec.
func (j *job) startMain(ctx context.Context, image string) error {
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
	id, err := j.create(ctx, "job", client.ContainerCreateOptions{
		Name: j.name,
		Config: &container.Config{
			Image:      image,
			Entrypoint: entrypoint,
			Cmd:        []string{"sh"},
			OpenStdin:  true,
			Env:        j.spec.Env,
			WorkingDir: j.projectDir,
			Labels:     j.labels,
		},
		HostConfig:       host,
		NetworkingConfig: netConfig,
	})
	if err != nil {
		return err
	}
	j.main = id
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

// jobStatus is CI_JOB_STATUS as GitLab sets it for after_script.
func jobStatus(ctx context.Context, code int, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	case err == nil && code == 0:
		return "success"
	}
	return "failed"
}

// afterScript runs spec.AfterScript in the job's container with its own
// timeout, also after ctx ended (GitLab runs it for canceled and timed-out
// jobs); its result only goes to the log.
func (j *job) afterScript(ctx context.Context, status string) {
	timeout := j.spec.AfterScriptTimeout
	if timeout <= 0 {
		timeout = DefaultAfterScriptTimeout
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if ctx.Err() != nil {
		// The script may still run in the container: kill everything in
		// it, then start it again for after_script.
		if err := j.restartMain(actx); err != nil {
			fmt.Fprintf(j.out, "WARNING: after_script not run: %v\n", err)
			return
		}
	}
	fmt.Fprintln(j.out, "Running after_script")
	code, err := j.exec(actx, j.spec.AfterScript, []string{"CI_JOB_STATUS=" + status})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(j.out, "WARNING: after_script timed out after %s\n", timeout)
	case err != nil:
		fmt.Fprintf(j.out, "WARNING: after_script failed: %v\n", err)
	case code != 0:
		fmt.Fprintf(j.out, "WARNING: after_script failed with exit code %d\n", code)
	}
}

func (j *job) restartMain(ctx context.Context) error {
	if _, err := j.cli.ContainerKill(ctx, j.main, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill job container: %w", err)
	}
	wait := j.cli.ContainerWait(ctx, j.main, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		return fmt.Errorf("wait for job container: %w", err)
	}
	if _, err := j.cli.ContainerStart(ctx, j.main, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("restart job container: %w", err)
	}
	return nil
}

// exec runs commands with GitLab's script semantics in the job's container
// and returns their exit code; -1 and ctx.Err() when ctx ends first.
func (j *job) exec(ctx context.Context, commands []string, env []string) (int, error) {
	cmd, err := j.scriptCommand(ctx, commands)
	if err != nil {
		return -1, err
	}
	bctx, cancel := background(ctx)
	defer cancel()
	created, err := j.cli.ExecCreate(bctx, j.main, client.ExecCreateOptions{
		AttachStdout: true,
		AttachStderr: true,
		Env:          env,
		WorkingDir:   j.projectDir,
		Cmd:          cmd,
	})
	if err != nil {
		return -1, j.explainExecError(bctx, err)
	}
	att, err := j.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("start script: %w", err)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(j.out, j.out, att.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
		att.Close()
	case <-ctx.Done():
		att.Close()
		<-copied
		return -1, ctx.Err()
	}
	if err != nil {
		return -1, fmt.Errorf("read script output: %w", err)
	}
	return j.execExitCode(ctx, created.ID)
}

// execExitCode waits the few moments the engine may take to record the
// exit code after the output stream ended.
func (j *job) execExitCode(ctx context.Context, id string) (int, error) {
	for delay := time.Millisecond; ; delay *= 2 {
		res, err := j.cli.ExecInspect(ctx, id, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("script exit code: %w", err)
		}
		if !res.Running {
			return res.ExitCode, nil
		}
		if delay > time.Second {
			return -1, errors.New("script exit code: the engine still reports it running after its output ended")
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// explainExecError turns "container is not running" into the likely
// cause: an image entrypoint that does not run the command it is given.
func (j *job) explainExecError(ctx context.Context, err error) error {
	insp, ierr := j.cli.ContainerInspect(ctx, j.main, client.ContainerInspectOptions{})
	if ierr == nil && insp.Container.State != nil && !insp.Container.State.Running {
		return fmt.Errorf("the job's container exited with code %d before the script ran: the image's entrypoint must run the command it is given (a shell), or set image:entrypoint: [\"\"]", insp.Container.State.ExitCode)
	}
	return fmt.Errorf("start script: %w", err)
}
