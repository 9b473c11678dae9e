package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// PushImage tags the engine's image src as ref and pushes it to ref's
// registry (one without authentication, as tests start them), so that the
// engine knows the image's digest as it knows a CI-built one's.
func PushImage(t testing.TB, cli *client.Client, src, ref string) {
	t.Helper()
	PushImageAs(t, cli, src, ref, "", "")
}

// PushImageAs is PushImage signed in to the registry as user with password.
func PushImageAs(t testing.TB, cli *client.Client, src, ref, user, password string) {
	t.Helper()
	auth := "e30=" // {}: no credentials
	if user != "" {
		js, _ := json.Marshal(map[string]string{"username": user, "password": password})
		auth = base64.URLEncoding.EncodeToString(js)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: ref}); err != nil {
		t.Fatalf("tag %s as %s: %v", src, ref, err)
	}
	res, err := cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if err := res.Wait(ctx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
