package docker_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"golang.org/x/crypto/bcrypt"

	slipwayregistry "github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// TestPullAlwaysUsesDockerAuthConfig pushes the busybox image to a registry
// on loopback that wants a password, removes the tag from the engine, and
// runs a job on it with pull_policy always and GitLab's DOCKER_AUTH_CONFIG.
func TestPullAlwaysUsesDockerAuthConfig(t *testing.T) {
	e, cli, img := newExecutor(t)
	const user, password = "ci", "s3cret-pull-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := registrytest.Start(t, &slipwayregistry.Auth{Users: map[string][]byte{user: hash}})
	ref := fmt.Sprintf("%s/team/busybox:%d", addr, time.Now().UnixNano())

	ctx := context.Background()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: img, Target: ref}); err != nil {
		t.Fatal(err)
	}
	auth, err := authconfig.Encode(registry.AuthConfig{Username: user, Password: password, ServerAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	push, err := cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Wait(ctx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	untag := func() {
		if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	untag()

	// Without credentials the registry refuses.
	s := spec(t, ref, "echo pulled")
	s.Image.PullPolicy = []string{"always"}
	res, err := e.Run(ctx, s)
	if err == nil || !res.SystemFailure || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Fatalf("pull without credentials: %+v, %v; want a system failure for the missing credentials", res, err)
	}

	s = spec(t, ref, "echo pulled")
	s.Image.PullPolicy = []string{"always"}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	s.Env = []string{`DOCKER_AUTH_CONFIG={"auths": {"` + addr + `": {"auth": "` + basic + `"}}}`}
	res, err = e.Run(ctx, s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "Pulling docker image "+ref) || !strings.Contains(logOf(s), "\npulled\n") {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
	if strings.Contains(logOf(s), password) || strings.Contains(logOf(s), basic) {
		t.Errorf("the log shows the password:\n%s", logOf(s))
	}
	untag()
}
