package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// PushImage tags the engine's image src as ref and pushes it to ref's
// registry (one without authentication, as tests start them), so that the
// engine knows the image's digest as it knows a CI-built one's.
func PushImage(t testing.TB, cli *client.Client, src, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: ref}); err != nil {
		t.Fatalf("tag %s as %s: %v", src, ref, err)
	}
	res, err := cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if err := res.Wait(ctx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
