// Package byname makes the executors a pipeline asks for by name (shell,
// docker, kubernetes, or auto: Kubernetes for jobs with an image when a
// cluster is configured, else Docker, and the shell for the others), each
// once, for the CLI and the server alike.
package byname

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/docker"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// Names are the executor names For accepts.
var Names = []string{"shell", "docker", "kubernetes", "auto"}

// Config is what executors need besides their name.
type Config struct {
	// Kubernetes configures the kubernetes executor; when set, auto runs
	// the jobs that have an image in pods.
	Kubernetes *kubernetes.Options
}

func newExecutor(ctx context.Context, kind string, cfg Config) (executor.Executor, error) {
	switch kind {
	case "shell":
		return &shell.Executor{}, nil
	case "docker":
		// Jobs without image: use SLIPWAY_DOCKER_IMAGE, like a runner's
		// default image.
		return docker.New(ctx, docker.Options{DefaultImage: os.Getenv("SLIPWAY_DOCKER_IMAGE")})
	case "kubernetes":
		opts := kubernetes.Options{}
		if cfg.Kubernetes != nil {
			opts = *cfg.Kubernetes
		}
		if opts.Installation == "" {
			opts.Installation, _ = os.Hostname()
		}
		return kubernetes.New(ctx, opts)
	}
	return nil, fmt.Errorf("executor %q: unknown (shell, docker, kubernetes or auto)", kind)
}

// Picker hands out the executor of each job, making each kind once.
type Picker struct {
	name string
	cfg  Config
	ctx  context.Context
	made map[string]executor.Executor
}

// For checks name and makes the executors plan needs up front, so that a
// missing Docker engine fails before any job runs. Warnings (an image the
// shell executor ignores) go to warn.
func For(ctx context.Context, name string, plan *ci.Plan, warn io.Writer) (*Picker, error) {
	return ForConfig(ctx, name, Config{}, plan, warn)
}

// ForConfig is For with the executors' configuration.
func ForConfig(ctx context.Context, name string, cfg Config, plan *ci.Plan, warn io.Writer) (*Picker, error) {
	p := &Picker{name: name, cfg: cfg, ctx: ctx, made: map[string]executor.Executor{}}
	if name != "auto" {
		if _, err := p.get(name); err != nil {
			return nil, err
		}
	}
	for _, j := range plan.Jobs {
		kind := p.kind(j)
		if _, err := p.get(kind); err != nil {
			return nil, err
		}
		if kind == "shell" && (j.Def.Image != nil || len(j.Def.Services) > 0) && warn != nil {
			fmt.Fprintf(warn, "slipway: job %s: image and services are ignored by the shell executor (use the docker, kubernetes or auto executor)\n", j.Name)
		}
	}
	return p, nil
}

// Executor is the executor of one job (engine.Options.ExecutorFor).
func (p *Picker) Executor(j *ci.PlannedJob) (executor.Executor, error) { return p.get(p.kind(j)) }

// Kind is the executor name a job runs with.
func (p *Picker) Kind(j *ci.PlannedJob) string { return p.kind(j) }

func (p *Picker) kind(j *ci.PlannedJob) string {
	if p.name != "auto" {
		return p.name
	}
	if j.Def.Image != nil {
		if p.cfg.Kubernetes != nil {
			return "kubernetes"
		}
		return "docker"
	}
	return "shell"
}

func (p *Picker) get(kind string) (executor.Executor, error) {
	if e, ok := p.made[kind]; ok {
		return e, nil
	}
	e, err := newExecutor(p.ctx, kind, p.cfg)
	if err != nil {
		return nil, fmt.Errorf("%s executor: %w", kind, err)
	}
	p.made[kind] = e
	return e, nil
}
