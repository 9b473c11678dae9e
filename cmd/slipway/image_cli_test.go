package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/client"
	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-cd/slipway/internal/image/build"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// slipwayWith is slipway with extra environment variables (a job's CI_*,
// DOCKER_HOST) and stdin. DOCKER_CONFIG points at an empty folder so that
// the engineer's own docker logins never take part, and SOURCE_DATE_EPOCH
// is cleared so that {unix_ts} is the build time even inside a CI job.
func slipwayWith(t *testing.T, dir string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(slipwayBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"XDG_CACHE_HOME="+filepath.Join(dir, ".cache-test"),
		"DOCKER_CONFIG="+t.TempDir(),
		"DOCKER_HOST="+testenv.DockerHost(),
		"SOURCE_DATE_EPOCH=",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// removeEngineImages deletes refs from the engine when the test ends: the
// registry's port differs every run, so the tags would pile up.
func removeEngineImages(t *testing.T, cli *client.Client, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			_, _ = cli.ImageRemove(context.Background(), r, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})
}

// remoteDigest is the digest the registry answers for ref.
func remoteDigest(t *testing.T, ref string, opts ...remote.Option) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, opts...)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

// imageFile reads one file of an image in the registry, as a user who runs
// it would see it.
func imageFile(t *testing.T, ref, path string, opts ...remote.Option) (string, v1.Config) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no file %s", ref, path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(hdr.Name, "/") == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b), cfg.Config
		}
	}
}

const seedPom = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.graviteesource.cockpit</groupId>
  <artifactId>gravitee-cockpit</artifactId>
  <version>3.0.0-SNAPSHOT</version>
</project>
`

// TestImageBuildSeedNightly plays seed 000's last steps: lint the versioned
// and the prepared Dockerfile, then build and push the API image (context
// with its Dockerfile) and the web UI image (a prepared folder with a
// Dockerfile generated beside it), tagged 3.0.0-nightly from pom.xml plus
// the staging tag of seed 001, to a registry that wants a password.
func TestImageBuildSeedNightly(t *testing.T) {
	cli := testenv.Docker(t)
	const user, password = "ci", "n1ghtly-pa55word"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{user: hash}})
	creds := remote.WithAuth(&authn.Basic{Username: user, Password: password})

	dir := testenv.GitRepo(t, map[string]string{
		"pom.xml":        seedPom,
		"api/Dockerfile": "FROM scratch\nCOPY app.jar /opt/cockpit/app.jar\nCMD [\"/opt/cockpit/app.jar\"]\n",
		"api/app.jar":    "the management API\n",
	})
	// "Prepare Container Image Build": a folder and a Dockerfile outside it.
	for p, body := range map[string]string{
		"build/webui/index.html": "<h1>Cockpit</h1>\n",
		"build/webui.Dockerfile": "FROM scratch\nCOPY index.html /usr/share/nginx/html/index.html\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := slipway(t, dir, "lint", "dockerfile", "api/Dockerfile", "build/webui.Dockerfile"); code != 0 {
		t.Fatalf("lint of the seed's Dockerfiles: exit %d\n%s%s", code, out, errOut)
	}

	const sha = "3f786850e387550fdab836ed7e6dc881de23001b"
	job := []string{"CI_COMMIT_REF_NAME=Feature/Login", "CI_COMMIT_SHA=" + sha, "CI_PIPELINE_ID=42"}
	apiRepo := host + "/gravitee/cockpit-api"
	webRepo := host + "/gravitee/cockpit-webui"

	before := time.Now().Unix()
	out, errOut, code := slipwayWith(t, dir, job, password+"\n", "image", "build", "api",
		"--image", apiRepo, "--tag", "{version}-nightly", "--tag", "{branch_slug}-{short_sha}-{unix_ts}",
		"--version-file", "pom.xml", "--push", "--registry-user", user, "--registry-password-stdin", "--json")
	after := time.Now().Unix()
	if code != 0 {
		t.Fatalf("image build api: exit %d\n%s\n%s", code, out, errOut)
	}
	var api build.Result
	if err := json.Unmarshal([]byte(out), &api); err != nil {
		t.Fatalf("--json output is not a result: %v\n%s", err, out)
	}
	removeEngineImages(t, cli, api.Tags...)
	if len(api.Tags) != 2 || api.Tags[0] != apiRepo+":3.0.0-nightly" {
		t.Fatalf("tags = %v, want %s:3.0.0-nightly and the staging tag", api.Tags, apiRepo)
	}
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(apiRepo) + `:feature-login-3f78685-(\d+)$`).FindStringSubmatch(api.Tags[1])
	if m == nil {
		t.Fatalf("staging tag = %s, want %s:feature-login-3f78685-<unix time>", api.Tags[1], apiRepo)
	}
	if ts, _ := strconv.ParseInt(m[1], 10, 64); ts < before || ts > after {
		t.Errorf("unix_ts %d is not the build time (%d..%d)", ts, before, after)
	}
	if !strings.HasPrefix(api.Digest, "sha256:") {
		t.Fatalf("digest = %q", api.Digest)
	}
	for _, ref := range api.Tags {
		if got := remoteDigest(t, ref, creds); got != api.Digest {
			t.Errorf("registry has %s at %s, the build printed %s", got, ref, api.Digest)
		}
	}
	byDigest := apiRepo + "@" + api.Digest
	if !slices.Contains(api.Pushed, byDigest) {
		t.Errorf("pushed = %v, want %s", api.Pushed, byDigest)
	}
	if err := registrytest.Pull(byDigest, creds); err != nil {
		t.Errorf("pull back by digest: %v", err)
	}
	body, cfg := imageFile(t, byDigest, "opt/cockpit/app.jar", creds)
	if body != "the management API\n" {
		t.Errorf("app.jar in the image = %q", body)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "3.0.0",
		"org.opencontainers.image.revision": sha,
	} {
		if cfg.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], want)
		}
	}

	// The web UI: Dockerfile outside its context, a full reference as the
	// tag, credentials from the environment, the result to a file.
	resultPath := filepath.Join(dir, "out", "webui.json")
	out, errOut, code = slipwayWith(t, dir,
		append(job, "SLIPWAY_REGISTRY_USER="+user, "SLIPWAY_REGISTRY_PASSWORD="+password), "",
		"image", "build", "build/webui", "--file", "build/webui.Dockerfile",
		"--tag", webRepo+":{version}-nightly", "--version-file", "pom.xml", "--push", "--result", resultPath)
	if code != 0 {
		t.Fatalf("image build webui: exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(resultPath)
	if err != nil {
		t.Fatal(err)
	}
	var web build.Result
	if err := json.Unmarshal(data, &web); err != nil {
		t.Fatalf("--result file: %v\n%s", err, data)
	}
	removeEngineImages(t, cli, web.Tags...)
	if got := remoteDigest(t, webRepo+":3.0.0-nightly", creds); web.Digest == "" || got != web.Digest {
		t.Errorf("registry has %s at %s:3.0.0-nightly, the result says %q", got, webRepo, web.Digest)
	}
	// The text output names the same image by digest.
	if want := "pushed " + webRepo + "@" + web.Digest; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if body, _ := imageFile(t, webRepo+"@"+web.Digest, "usr/share/nginx/html/index.html", creds); body != "<h1>Cockpit</h1>\n" {
		t.Errorf("index.html in the image = %q (was the prepared folder the context?)", body)
	}
	if web.Digest == api.Digest {
		t.Error("both images have one digest")
	}
	if strings.Contains(out+errOut+string(data), password) {
		t.Error("the registry password shows in the output or the result")
	}
}

// TestImageBuildLintStopsBadDockerfile: --lint refuses a Dockerfile with
// findings, names file:line and rule, and builds nothing.
func TestImageBuildLintStopsBadDockerfile(t *testing.T) {
	cli := testenv.Docker(t)
	dir := testenv.GitRepo(t, map[string]string{
		"app.txt":        "x\n",
		"bad.Dockerfile": "FROM busybox:latest\nRUN cd /tmp && touch x\nCOPY app.txt /app.txt\n",
	})
	ref := "127.0.0.1:1/slipway-test/lint-refused:nightly" // never pushed: the build must not start
	removeEngineImages(t, cli, ref)
	out, errOut, code := slipwayWith(t, dir, nil, "", "image", "build", ".", "--file", "bad.Dockerfile",
		"--tag", ref, "--lint", "--push")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"bad.Dockerfile:1 DL3007", "bad.Dockerfile:2 DL3003", "build stopped"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "Step 1/") {
		t.Errorf("the build ran:\n%s", errOut)
	}
	if _, err := cli.ImageInspect(context.Background(), ref); !cerrdefs.IsNotFound(err) {
		t.Errorf("image %s exists after the lint refused it (inspect: %v)", ref, err)
	}
	// A clean Dockerfile passes the same lint and builds.
	if err := os.WriteFile(filepath.Join(dir, "ok.Dockerfile"), []byte("FROM scratch\nCOPY app.txt /app.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	okRef := "slipway-test/lint-passed:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	removeEngineImages(t, cli, okRef)
	if out, errOut, code := slipwayWith(t, dir, nil, "", "image", "build", ".", "--file", "ok.Dockerfile", "--tag", okRef, "--lint"); code != 0 {
		t.Errorf("a clean Dockerfile with --lint: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestImageBuildLintNeedsNoEngine(t *testing.T) {
	dir := testenv.GitRepo(t, map[string]string{
		"bad.Dockerfile": "FROM busybox:latest\nRUN cd /tmp && touch x\n",
		"ok.Dockerfile":  "FROM scratch\n",
	})
	noEngine := []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "no-engine.sock")}
	out, errOut, code := slipwayWith(t, dir, noEngine, "", "image", "build", ".", "--file", "bad.Dockerfile",
		"--tag", "slipway-test/no-engine:1", "--lint")
	if code != 1 || !strings.Contains(errOut, "bad.Dockerfile:1 DL3007") || strings.Contains(errOut, "docker engine at") {
		t.Errorf("lint findings without an engine: exit %d, want 1 with the findings, not an engine error\n%s\n%s", code, out, errOut)
	}
	// A clean Dockerfile gets past the lint and only then needs the engine.
	_, errOut, code = slipwayWith(t, dir, noEngine, "", "image", "build", ".", "--file", "ok.Dockerfile",
		"--tag", "slipway-test/no-engine:1", "--lint")
	if code == 0 || !strings.Contains(errOut, "docker engine at unix://") {
		t.Errorf("a clean Dockerfile without an engine: exit %d, want the engine's error\n%s", code, errOut)
	}
}

// TestImagePromoteAndTags promotes within a registry and to a second one,
// a single image and a two-platform index, and lists the tags.
func TestImagePromoteAndTags(t *testing.T) {
	_, a := registrytest.Start(t, nil)
	_, b := registrytest.Start(t, nil)
	dir := t.TempDir()

	registrytest.Push(t, a+"/team/app:main-abc123", registrytest.Image(t, 4096))
	src := remoteDigest(t, a+"/team/app:main-abc123")

	// Within one registry: another tag, then another repository.
	for _, dst := range []string{a + "/team/app:production", a + "/public/app:1.4.0"} {
		out, errOut, code := slipwayWith(t, dir, nil, "", "image", "promote", a+"/team/app:main-abc123", dst)
		if code != 0 {
			t.Fatalf("promote to %s: exit %d\n%s%s", dst, code, out, errOut)
		}
		if !strings.Contains(out, src) {
			t.Errorf("promote output lacks the digest %s:\n%s", src, out)
		}
		if got := remoteDigest(t, dst); got != src {
			t.Errorf("%s has digest %s, source %s", dst, got, src)
		}
	}
	// To another registry, the source named by digest.
	if out, errOut, code := slipwayWith(t, dir, nil, "", "image", "promote", a+"/team/app@"+src, b+"/public/app:1.4.0"); code != 0 {
		t.Fatalf("promote to the second registry: exit %d\n%s%s", code, out, errOut)
	}
	if got := remoteDigest(t, b+"/public/app:1.4.0"); got != src {
		t.Errorf("second registry has %s, source %s", got, src)
	}
	if err := registrytest.Pull(b + "/public/app@" + src); err != nil {
		t.Errorf("pull the promoted image by digest: %v", err)
	}

	// Every platform of an index, and its digest, go across.
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	idxRef, err := name.ParseReference(a+"/team/multi:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(idxRef, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	if out, errOut, code := slipwayWith(t, dir, nil, "", "image", "promote", a+"/team/multi:1.0", b+"/team/multi:1.0"); code != 0 {
		t.Fatalf("promote an index: exit %d\n%s%s", code, out, errOut)
	}
	if got := remoteDigest(t, b+"/team/multi:1.0"); got != idxDigest.String() {
		t.Errorf("index promoted as %s, want %s", got, idxDigest)
	}
	mf, _ := idx.IndexManifest()
	for _, d := range mf.Manifests {
		if err := registrytest.Pull(b + "/team/multi@" + d.Digest.String()); err != nil {
			t.Errorf("platform image %s not promoted: %v", d.Digest, err)
		}
	}

	// A destination by a digest that is not the source's is refused.
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, errOut, code := slipwayWith(t, dir, nil, "", "image", "promote", a+"/team/app:main-abc123", b+"/team/app@"+wrong); code == 0 || !strings.Contains(errOut, wrong) {
		t.Errorf("promote to a wrong digest: exit %d\n%s", code, errOut)
	}

	out, errOut, code := slipwayWith(t, dir, nil, "", "image", "tags", a+"/team/app")
	if code != 0 {
		t.Fatalf("image tags: exit %d\n%s%s", code, out, errOut)
	}
	for _, tag := range []string{"main-abc123", "production"} {
		if !regexp.MustCompile(`(?m)^` + tag + `\s+` + regexp.QuoteMeta(src) + `\s+\d{4}-`).MatchString(out) {
			t.Errorf("image tags lacks a line for %s with digest %s and a push time:\n%s", tag, src, out)
		}
	}
	out, errOut, code = slipwayWith(t, dir, nil, "", "image", "tags", a+"/team/app", "--json")
	if code != 0 {
		t.Fatalf("image tags --json: exit %d\n%s%s", code, out, errOut)
	}
	var tags []registry.TagInfo
	if err := json.Unmarshal([]byte(out), &tags); err != nil {
		t.Fatalf("image tags --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, ti := range tags {
		got[ti.Tag] = ti.Digest.String()
		if ti.Pushed.IsZero() || time.Since(ti.Pushed) > time.Hour {
			t.Errorf("tag %s pushed at %v, want just now", ti.Tag, ti.Pushed)
		}
	}
	if len(got) != 2 || got["main-abc123"] != src || got["production"] != src {
		t.Errorf("image tags --json = %v, want main-abc123 and production at %s", got, src)
	}
	if _, errOut, code := slipwayWith(t, dir, nil, "", "image", "tags", a+"/team/nothing-here"); code == 0 {
		t.Errorf("tags of a missing repository: exit 0\n%s", errOut)
	}
}
