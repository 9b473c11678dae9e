package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// exampleDir is the review app example, a Go module of its own.
var exampleDir = filepath.Join("..", "..", "examples", "review-app")

// TestExampleIsSelfContained: a user who copies the example into a
// repository of its own can vet and test it, what its pipeline's test job
// does: it needs nothing of Slipway.
func TestExampleIsSelfContained(t *testing.T) {
	repo := exampleRepo(t, "feature/login", nil)
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s in examples/review-app: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// buildExampleImage builds the static binary of the example's package dir
// and the image of dir/Dockerfile around it, pushes it to registry and
// returns the tag.
func buildExampleImage(t *testing.T, cli *client.Client, registry, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), dir)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./"+dir)
	cmd.Dir = exampleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", dir, err, out)
	}
	files := map[string][]byte{}
	for name, src := range map[string]string{"Dockerfile": filepath.Join(exampleDir, dir, "Dockerfile"), dir: bin} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	local := testenv.BuildContext(t, cli, "slipway-test/example-"+dir+":review", files)
	ref := registry + "/example/" + dir + ":review"
	testenv.PushImage(t, cli, local, ref)
	t.Cleanup(func() {
		for _, tag := range []string{local, ref} {
			_, _ = cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true})
		}
	})
	return ref
}

// TestExampleAsReviewEnvironment deploys the example as a review
// environment on the real Docker engine, behind the embedded Caddy, the way
// `slipway env deploy` does: images built from the two Dockerfiles, pushed,
// compose.yaml read with the job's variables.
func TestExampleAsReviewEnvironment(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()
	_, registry := registrytest.Start(t, nil)
	appImage := buildExampleImage(t, cli, registry, "app")
	sigverImage := buildExampleImage(t, cli, registry, "sigver")

	proxyAddr := testenv.FreeAddr(t)
	caddy, err := embedded.Start(ctx, embedded.Config{Listen: proxyAddr, StorageDir: t.TempDir(), LogLevel: "ERROR"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Close() })
	alloc, err := ports.New(t.TempDir(), ports.Range{Low: 29040, High: 29999})
	if err != nil {
		t.Fatal(err)
	}
	const domain = "review.example.com"
	d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Router: caddy,
		Hostnames: proxy.Hostnames{Domain: domain}, Logger: slog.New(slog.DiscardHandler), StopTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}

	branch := "Feature/Login-Page"
	name := "review/" + slug.Ref(branch)
	envSlug := slug.Environment(name)
	vars := map[string]string{
		"APP_IMAGE": appImage, "SIGVER_IMAGE": sigverImage, "REVIEW_DOMAIN": domain,
		"CI_COMMIT_REF_NAME": branch, "CI_COMMIT_REF_SLUG": slug.Ref(branch), "CI_ENVIRONMENT_SLUG": envSlug,
	}
	env, err := compose.Load(ctx, filepath.Join(exampleDir, "compose.yaml"), vars)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Teardown(context.Background(), envSlug); err != nil {
			t.Error(err)
		}
	})
	st, err := d.Deploy(ctx, dockerhost.Spec{Env: envSlug, Name: name, RefSlug: slug.Ref(branch), Services: env.Services})
	if err != nil {
		t.Fatal(err)
	}

	get := func(host, path string) (int, string) {
		t.Helper()
		code, body, err := proxytest.Get(http.DefaultClient, "http://"+proxyAddr+path, host)
		if err != nil {
			t.Fatal(err)
		}
		return code, body
	}
	// The seed's names (docs/proxy.md).
	appHost, sigHost := "review-feature-login-page."+domain, "review-feature-login-page-sigver."+domain
	if code, body := get(appHost, "/api/branch"); code != 200 || strings.TrimSpace(body) != branch {
		t.Errorf("app /api/branch: %d %q, want 200 %q", code, body, branch)
	}
	if code, body := get(appHost, "/"); code != 200 || !strings.Contains(body, "http://"+sigHost) {
		t.Errorf("app page: %d %q, want the signaling URL http://%s", code, body, sigHost)
	}
	if code, body := get(sigHost, "/"); code != 200 || strings.TrimSpace(body) != "sigver" {
		t.Errorf("sigver: %d %q", code, body)
	}
	for _, svc := range st.Services {
		if !strings.Contains(svc.Image, "@sha256:") {
			t.Errorf("%s runs %s, not by digest", svc.Name, svc.Image)
		}
	}
}
