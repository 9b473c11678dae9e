package testenv

import (
	"context"
	"testing"

	"github.com/moby/moby/client"
)

// PushImage tags source as ref and pushes it anonymously, so that the
// engine knows ref's digest (a deploy pins images by digest).
func PushImage(t testing.TB, cli *client.Client, source, ref string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: ref}); err != nil {
		t.Fatal(err)
	}
	push, err := cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Wait(ctx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
