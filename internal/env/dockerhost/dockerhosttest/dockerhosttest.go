// Package dockerhosttest deploys what tests of environments' health and
// resource use watch, on the real Docker engine.
package dockerhosttest

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// UsageCompose has a service that burns CPU under a 32 MiB memory limit,
// an exposed web server with a 64 KiB /blob to send traffic with (the
// deploy waits until it serves it: the engine's port accepts connections
// before httpd listens), and a service that crashes again and again once
// /crash exists (Docker restarts it). It starts crashing only when told
// (Crash): a crash during the deploy fails the deploy, and on a loaded
// machine a deploy takes longer than any fixed delay.
const UsageCompose = `
services:
  burner:
    image: ${IMAGE}
    command: ["sh", "-c", "while :; do :; done"]
    mem_limit: 32m
  web:
    image: ${IMAGE}
    command: ["sh", "-c", "mkdir -p /www && head -c 65536 /dev/zero > /www/blob && exec httpd -f -p 8080 -h /www"]
    x-slipway:
      expose: true
      main: true
      port: 8080
      health: /blob
  crasher:
    image: ${IMAGE}
    command: ["sh", "-c", "while [ ! -e /crash ]; do sleep 0.1; done; exit 3"]
`

// BlobSize is the size of web's /blob.
const BlobSize = 65536

// DeployUsage deploys UsageCompose with image (pinned by digest, so from a
// registry) as spec's environment, and tears it down when the test ends.
func DeployUsage(t testing.TB, cli *client.Client, d *dockerhost.Deployer, spec dockerhost.Spec, image string) dockerhost.Status {
	t.Helper()
	def, err := compose.Parse(context.Background(), "compose.yaml", []byte(UsageCompose), map[string]string{"IMAGE": image})
	if err != nil {
		t.Fatal(err)
	}
	spec.Services = def.Services
	t.Cleanup(func() {
		if err := d.Teardown(context.Background(), spec.Env); err != nil {
			t.Error(err)
		}
	})
	st, err := d.Deploy(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	Crash(t, cli, spec.Env)
	return st
}

// Crash makes the crasher of environment env crash from now on.
func Crash(t testing.TB, cli *client.Client, env string) {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", dockerhost.LabelEnv+"="+env).Add("label", dockerhost.LabelService+"=crasher")
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("the crasher of %s: %d containers, %v", env, len(res.Items), err)
	}
	ex, err := cli.ExecCreate(ctx, res.Items[0].ID, client.ExecCreateOptions{Cmd: []string{"touch", "/crash"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
}
