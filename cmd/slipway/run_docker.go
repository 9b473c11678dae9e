package main

import (
	"context"
	"io"
	"os"

	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/docker"
)

func init() {
	executors["docker"] = func(ctx context.Context, _ io.Writer) (executor.Executor, error) {
		// Jobs without image: use SLIPWAY_DOCKER_IMAGE, like a runner's
		// default image.
		return docker.New(ctx, docker.Options{DefaultImage: os.Getenv("SLIPWAY_DOCKER_IMAGE")})
	}
}
