package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

const registryPassword = "Regi5try-S3cret"

// gitopsImagesFixture is a registry that wants credentials, with tags of
// two templates, and a bare repository whose deploy/app.yaml has markers.
func gitopsImagesFixture(t *testing.T, interval string) (host, bare, config string, push func(tag string)) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(registryPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, host = registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"bot": hash}})
	push = func(tag string) {
		registrytest.Push(t, host+"/team/app:"+tag, registrytest.Image(t, 128),
			remote.WithAuth(&authn.Basic{Username: "bot", Password: registryPassword}))
	}
	for _, tag := range []string{"1.0.0", "1.9.0", "1.10.0", "main-abc1234-1700000000"} {
		push(tag)
	}
	src := testenv.GitRepo(t, map[string]string{"deploy/app.yaml": "app: " + host + "/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n" +
		"build: main-abc1234-1700000000 # {\"$imagepolicy\": \"main:tag\"}\n"})
	bare = filepath.Join(t.TempDir(), "deploy.git")
	testenv.Git(t, src, "clone", "--quiet", "--bare", src, bare)
	config = filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	yaml := `sources: [] # GitOps reconciliation's; ignored here
imagePolicies:
  - name: app
    image: ` + host + `/team/app
    credentials_ref: env:TEST_REGISTRY_AUTH
    policy: {semver: {range: ">=1.0.0 <2.0.0"}}
  - name: main
    image: ` + host + `/team/app
    credentials_ref: env:TEST_REGISTRY_AUTH
    filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$', extract: '$ts'}
    policy: {numerical: {order: asc}}
imageUpdates:
  - name: staging
    url: ` + bare + `
    path: deploy
    interval: ` + interval + `
`
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return host, bare, config, push
}

// gitopsImages runs the CLI with the registry's credentials in env and
// checks the password shows nowhere in its output.
func gitopsImages(t *testing.T, auth string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, code = slipwayWith(t, t.TempDir(), []string{"TEST_REGISTRY_AUTH=" + auth}, "", append([]string{"gitops", "images"}, args...)...)
	if strings.Contains(stdout+stderr, registryPassword[4:]) {
		t.Errorf("the output shows the registry password:\n%s\n%s", stdout, stderr)
	}
	return stdout, stderr, code
}

func TestGitopsImagesDryRunThenUpdateThenNothing(t *testing.T) {
	host, bare, config, _ := gitopsImagesFixture(t, "5m")
	before := testenv.Git(t, bare, "rev-parse", "main")

	out, errOut, code := gitopsImages(t, "bot:"+registryPassword, "--config", config, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	wantDiff := "--- a/deploy/app.yaml\n+++ b/deploy/app.yaml\n" +
		"@@ -1 +1 @@\n-app: " + host + "/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n+app: " + host + "/team/app:1.10.0 # {\"$imagepolicy\": \"app\"}\n"
	if !strings.Contains(out, "update staging: 1 change to main (dry run, nothing written)\n"+wantDiff) {
		t.Errorf("dry run output:\n%s\nwant the diff\n%s", out, wantDiff)
	}
	if testenv.Git(t, bare, "rev-parse", "main") != before {
		t.Fatal("the dry run pushed")
	}

	out, errOut, code = gitopsImages(t, "bot:"+registryPassword, "--config", config)
	if code != 0 || !strings.Contains(out, "update staging: pushed ") {
		t.Fatalf("update: exit %d\n%s%s", code, out, errOut)
	}
	if got, want := testenv.Git(t, bare, "show", "main:deploy/app.yaml"), "app: "+host+"/team/app:1.10.0 # {\"$imagepolicy\": \"app\"}\n"+
		"build: main-abc1234-1700000000 # {\"$imagepolicy\": \"main:tag\"}"; got != want {
		t.Errorf("deploy/app.yaml:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(errOut, "policy=app") || !strings.Contains(errOut, "tag=1.10.0") {
		t.Errorf("the log does not tell what was selected:\n%s", errOut)
	}
	after := testenv.Git(t, bare, "rev-parse", "main")

	out, _, code = gitopsImages(t, "bot:"+registryPassword, "--config", config)
	if code != 0 || out != "update staging: up to date\n" || testenv.Git(t, bare, "rev-parse", "main") != after {
		t.Errorf("second run: exit %d, %q; want no commit", code, out)
	}
}

func TestGitopsImagesBadCredentialsFailWithoutShowingThem(t *testing.T) {
	_, bare, config, _ := gitopsImagesFixture(t, "5m")
	before := testenv.Git(t, bare, "rev-parse", "main")
	_, errOut, code := gitopsImages(t, "bot:Wrong-"+registryPassword, "--config", config)
	if code == 0 || !strings.Contains(errOut, "image policy app: listing the tags of") {
		t.Fatalf("exit %d, %s; want a failure naming the policy", code, errOut)
	}
	if testenv.Git(t, bare, "rev-parse", "main") != before {
		t.Error("a failed scan pushed")
	}
}

func TestGitopsImagesConfigErrorNamesFileLineColumn(t *testing.T) {
	config := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	if err := os.WriteFile(config, []byte("imagePolicies:\n  - name: app\n    image: reg/app\n    policy: {semver: {range: 'one'}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := gitopsImages(t, "", "--config", config)
	if want := config + `:4:30: imagePolicies[0].policy.semver.range: "one" is not a semver range`; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, %s; want %s", code, errOut, want)
	}
}

func TestGitopsImagesWatchPicksUpANewTag(t *testing.T) {
	_, bare, config, push := gitopsImagesFixture(t, "1s")
	cmd := exec.Command(slipwayBin, "gitops", "images", "--config", config, "--watch")
	cmd.Env = append(os.Environ(), "TEST_REGISTRY_AUTH=bot:"+registryPassword)
	var out, errOut testenv.Buffer // read while the process writes
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	waitFile := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := testenv.Git(t, bare, "show", "main:deploy/app.yaml")
			if strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("deploy/app.yaml never got %q:\n%s\nstdout:\n%s\nstderr:\n%s", want, got, out.String(), errOut.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFile("/team/app:1.10.0 #")
	push("main-fedcba9-1700009999")
	waitFile("build: main-fedcba9-1700009999 #")
	if n := testenv.Git(t, bare, "rev-list", "--count", "main"); n != "3" {
		t.Errorf("main has %s commits, want 3: the initial one and one per new image", n)
	}
	if strings.Contains(out.String()+errOut.String(), registryPassword[4:]) {
		t.Error("the output shows the registry password")
	}
}

// TestGitopsImagesRelativeURL: an update's url ./deploy.git next to the
// config, with the default --config: the first run pushes to it (git ran
// the relative path from its own working folder, where it is not).
func TestGitopsImagesRelativeURL(t *testing.T) {
	_, bare, config, _ := gitopsImagesFixture(t, "5m")
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(bare)
	gitopsWriteFile(t, filepath.Join(dir, "slipway-gitops.yaml"), strings.ReplaceAll(string(b), "url: "+bare, "url: ./"+filepath.Base(bare)))
	before := testenv.Git(t, bare, "rev-parse", "main")
	out, errOut, code := slipwayWith(t, dir, []string{"TEST_REGISTRY_AUTH=bot:" + registryPassword}, "", "gitops", "images")
	if code != 0 || !strings.Contains(out, "update staging: pushed ") || testenv.Git(t, bare, "rev-parse", "main") == before {
		t.Fatalf("gitops images with a relative url: exit %d\n%s%s", code, out, errOut)
	}
}
