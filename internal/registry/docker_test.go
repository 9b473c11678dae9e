package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// noAuth is what the docker CLI sends without credentials: an empty JSON object.
var noAuth = base64.URLEncoding.EncodeToString([]byte("{}"))

// dockerAuth encodes credentials the way the Engine API wants them.
func dockerAuth(user, pass, host string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": host})
	return base64.URLEncoding.EncodeToString(b)
}

// dockerRoundTrip has the real engine push an image to ref, forget it, and
// pull it back. 127.0.0.0/8 is an insecure registry for Docker by default,
// so plain HTTP on loopback works without engine configuration.
func dockerPush(ctx context.Context, cli *client.Client, ref, auth string) error {
	resp, err := cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	return resp.Wait(ctx)
}

func dockerPull(ctx context.Context, cli *client.Client, ref, auth string) error {
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	return resp.Wait(ctx)
}

func tagAndForget(t *testing.T, ctx context.Context, cli *client.Client, src, ref string) {
	t.Helper()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: ref}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
}

func forget(t *testing.T, ctx context.Context, cli *client.Client, ref string) {
	t.Helper()
	if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		t.Fatalf("%s is still in the engine", ref)
	}
}

func TestDockerPushPullWithoutAuth(t *testing.T) {
	cli := testenv.Docker(t)
	busybox := testenv.BusyboxImage(t, cli)
	_, host := registrytest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := host + "/team/busybox:v1"
	tagAndForget(t, ctx, cli, busybox, ref)
	if err := dockerPush(ctx, cli, ref, noAuth); err != nil {
		t.Fatalf("docker push: %v", err)
	}
	forget(t, ctx, cli, ref)
	if err := dockerPull(ctx, cli, ref, noAuth); err != nil {
		t.Fatalf("docker pull: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
}

func TestDockerPushPullWithAuth(t *testing.T) {
	cli := testenv.Docker(t)
	busybox := testenv.BusyboxImage(t, cli)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	pullSecret, pullTok, err := registry.NewToken("deploy", []string{"team/**"}, "pull")
	if err != nil {
		t.Fatal(err)
	}
	tokens := registry.NewTokenFile(pullTok)
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"ci": hash}, Tokens: tokens})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := host + "/team/busybox:v1"
	tagAndForget(t, ctx, cli, busybox, ref)

	// The engine stops at our Basic challenge when it has nothing to answer with.
	if err := dockerPush(ctx, cli, ref, noAuth); err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Fatalf("docker push without credentials: %v, want no basic auth credentials", err)
	}
	if err := dockerPush(ctx, cli, ref, dockerAuth("deploy", pullSecret, host)); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("docker push with a pull-only token: %v, want denied", err)
	}
	if err := dockerPush(ctx, cli, ref, dockerAuth("ci", "s3cret", host)); err != nil {
		t.Fatalf("docker push as ci: %v", err)
	}
	forget(t, ctx, cli, ref)
	if err := dockerPull(ctx, cli, ref, noAuth); err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Fatalf("docker pull without credentials: %v, want no basic auth credentials", err)
	}
	if err := dockerPull(ctx, cli, ref, dockerAuth("deploy", pullSecret, host)); err != nil {
		t.Fatalf("docker pull with the pull token: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
}
