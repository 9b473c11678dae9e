// Package dockerhosttest deploys what tests of environments' health and
// resource use watch, on the real Docker engine.
package dockerhosttest

import (
	"context"
	"testing"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// UsageCompose has a service that burns CPU under a 32 MiB memory limit,
// an exposed web server with a 64 KiB /blob to send traffic with, and a
// service that crashes every two seconds (Docker restarts it).
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
  crasher:
    image: ${IMAGE}
    command: ["sh", "-c", "sleep 2; exit 3"]
`

// BlobSize is the size of web's /blob.
const BlobSize = 65536

// DeployUsage deploys UsageCompose with image (pinned by digest, so from a
// registry) as spec's environment, and tears it down when the test ends.
func DeployUsage(t testing.TB, d *dockerhost.Deployer, spec dockerhost.Spec, image string) dockerhost.Status {
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
	return st
}
