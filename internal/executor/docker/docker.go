// Package docker is the executor that runs each job in a container through
// the Docker Engine API, with its services in containers of their own on a
// network per job, as GitLab's docker executor does.
//
// A job's container runs the script as its command, through the image's
// entrypoint; after_script runs by starting that container again, so both
// see the same filesystem. Everything created is labelled (see LabelManaged)
// and removed when the job ends, on a timeout or cancel too; what a killed
// Slipway left behind is removed by the next New.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Defaults for zero Options fields.
const (
	DefaultBuildsDir          = "/builds"
	DefaultProjectName        = "project"
	DefaultServiceWait        = 30 * time.Second
	DefaultAfterScriptTimeout = 5 * time.Minute
)

// DefaultPullPolicy applies to images without pull_policy. GitLab's runner
// defaults to always; here the local image wins, so that jobs work offline
// and on images built on the same engine.
var DefaultPullPolicy = []string{PullIfNotPresent}

// Options configure an Executor.
type Options struct {
	// Client talks to the engine; nil makes one from the environment
	// (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY).
	Client *client.Client
	// DefaultImage runs jobs that have no `image:`.
	DefaultImage string
	// PullPolicy applies to images without pull_policy and to services;
	// empty means DefaultPullPolicy.
	PullPolicy []string
	// BuildsDir and ProjectName make the folder where the job's working
	// copy is mounted: BuildsDir/ProjectName (GitLab: /builds/group/project).
	BuildsDir   string
	ProjectName string
	// Volumes are bind mounts or volumes for every job's container, as in
	// a GitLab runner's config: "/var/run/docker.sock:/var/run/docker.sock"
	// lets jobs build images on the engine, "/srv/cache:/cache:ro"...
	Volumes []string
	// ServiceWait bounds the wait for services to listen on the ports their
	// images expose; a service still silent then gets a warning in the log.
	ServiceWait time.Duration
}

// Executor runs jobs in Docker containers. Its methods are safe for
// concurrent use.
type Executor struct {
	cli  *client.Client
	opts Options
	// probe says whether container addresses can be dialled from here
	// (the engine is on this host).
	probe bool
}

// New connects to the engine, checks that it answers, and removes what a
// killed Slipway left there (see CleanupLeftovers).
func New(ctx context.Context, opts Options) (*Executor, error) {
	cli := opts.Client
	if cli == nil {
		var err error
		cli, err = client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("docker executor: client: %w", err)
		}
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, fmt.Errorf("docker executor: engine at %s: %w", cli.DaemonHost(), err)
	}
	if len(opts.PullPolicy) == 0 {
		opts.PullPolicy = DefaultPullPolicy
	}
	if err := checkPullPolicies("docker executor: pull policy", opts.PullPolicy); err != nil {
		return nil, err
	}
	if opts.BuildsDir == "" {
		opts.BuildsDir = DefaultBuildsDir
	}
	if opts.ProjectName == "" {
		opts.ProjectName = DefaultProjectName
	}
	if opts.ServiceWait <= 0 {
		opts.ServiceWait = DefaultServiceWait
	}
	// Leftovers that cannot be removed now (another Slipway removing them
	// at the same moment, say) must not keep jobs from running.
	if err := CleanupLeftovers(ctx, cli); err != nil {
		slog.Warn("docker executor: clean up leftovers", "err", err)
	}
	return &Executor{cli: cli, opts: opts, probe: strings.HasPrefix(cli.DaemonHost(), "unix://")}, nil
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "docker" }

// Client is the engine client the executor uses.
func (e *Executor) Client() *client.Client { return e.cli }

// ProjectDir is where a job's working copy is mounted in its container
// (the engine's ProjectDirer): the same for every job, as in GitLab.
func (e *Executor) ProjectDir(string) string {
	return path.Join(e.opts.BuildsDir, e.opts.ProjectName)
}
