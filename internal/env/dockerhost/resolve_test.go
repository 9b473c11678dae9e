package dockerhost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestResolveFollowsATagPushedAgain: Resolve pins a tag to the digest the
// registry has now, even when the engine holds an older image under it,
// and returns the ID containers of that image report; a missing tag is
// an error naming it.
func TestResolveFollowsATagPushedAgain(t *testing.T) {
	cli := testenv.Docker(t)
	bb := testenv.BusyboxImage(t, cli)
	_, reg := registrytest.Start(t, nil)
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 28040, High: 28999})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := reg + "/resolve-test/app:live"
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
	// want checks that ref resolves to the digest and ID of local.
	want := func(local string) {
		t.Helper()
		pinned, id, err := d.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := cli.ImageInspect(ctx, local)
		if err != nil {
			t.Fatal(err)
		}
		if id != img.ID || !strings.HasPrefix(pinned, reg+"/resolve-test/app@sha256:") {
			t.Errorf("Resolve(%s) = %s, %s; want a digest of %s, ID %s", ref, pinned, id, local, img.ID)
		}
	}
	a := testenv.BuildImage(t, cli, "slipway-test/resolve:a", "FROM "+bb+"\nENV V=a\n")
	b := testenv.BuildImage(t, cli, "slipway-test/resolve:b", "FROM "+bb+"\nENV V=b\n")
	testenv.PushImage(t, cli, a, ref)
	want(a)

	// b is pushed (as from CI), while the engine's tag names a again.
	testenv.PushImage(t, cli, b, ref)
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: a, Target: ref}); err != nil {
		t.Fatal(err)
	}
	want(b)

	if _, _, err := d.Resolve(ctx, reg+"/resolve-test/app:missing"); err == nil || !strings.Contains(err.Error(), "app:missing") {
		t.Errorf("a missing tag: %v", err)
	}
}
