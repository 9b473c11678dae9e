package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/image/lint"
	"github.com/slipway-cd/slipway/internal/image/tag"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// uniqueRepo is a repository name no other test (or engineer) uses.
func uniqueRepo(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "slipway-test/build-" + hex.EncodeToString(b)
}

// removeImages deletes the given refs from the engine when the test ends.
func removeImages(t *testing.T, cli *client.Client, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			_, _ = cli.ImageRemove(context.Background(), r, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})
}

// readFromImage returns the content of path in image, and false when the
// image has no such file. It creates a container without starting it.
func readFromImage(t *testing.T, cli *client.Client, image, path string) (string, bool) {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: image, Cmd: []string{"true"}}})
	if err != nil {
		t.Fatalf("create container of %s: %v", image, err)
	}
	defer func() {
		_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
	}()
	res, err := cli.CopyFromContainer(ctx, c.ID, client.CopyFromContainerOptions{SourcePath: path})
	if cerrdefs.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatalf("copy %s from %s: %v", path, image, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), true
}

// TestBuildContextWithDockerignoreArgsTargetAndLabels builds a versioned
// Dockerfile from its folder: .dockerignore keeps files out, a build arg
// reaches RUN, the target stage stops the build early, the image gets
// every tag and the OCI labels.
func TestBuildContextWithDockerignoreArgsTargetAndLabels(t *testing.T) {
	cli := testenv.Docker(t)
	base := testenv.BusyboxImage(t, cli)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), `ARG BASE
FROM ${BASE} AS base
ARG GREETING=unset
RUN echo "$GREETING" > /greeting
COPY app/ /app/

FROM base AS final
RUN echo final > /final
`)
	writeTestFile(t, filepath.Join(dir, ".dockerignore"), "# keep secrets and dependencies out\n**/*.env\n!app/public.env\napp/node_modules\n")
	writeTestFile(t, filepath.Join(dir, "app/index.html"), "<h1>cockpit</h1>\n")
	writeTestFile(t, filepath.Join(dir, "app/db.env"), "PASSWORD=hunter2\n")
	writeTestFile(t, filepath.Join(dir, "app/public.env"), "MODE=demo\n")
	writeTestFile(t, filepath.Join(dir, "app/node_modules/left-pad/index.js"), "module.exports = 1\n")

	repo := uniqueRepo(t, "")
	refs := []string{repo + ":3.0.0-nightly", repo + ":main-6b75e6f"}
	removeImages(t, cli, refs...)
	created := time.Date(2020, 12, 16, 0, 44, 23, 0, time.UTC)
	labels := Provenance{
		Revision: "6b75e6fbd6cd52e8a1b2c3d4e5f60718293a4b5c",
		Source:   "https://gitlab-ci-token:glcbt-SECRET@git.example.com/gravitee/cockpit.git",
		Version:  "3.0.0",
		Created:  created,
	}.Labels()
	var out bytes.Buffer
	res, err := Build(context.Background(), cli, Options{
		ContextDir: dir,
		Refs:       refs,
		BuildArgs:  map[string]string{"BASE": base, "GREETING": "hello from a build arg"},
		Target:     "base",
		Labels:     labels,
		Output:     &out,
	})
	if err != nil {
		t.Fatalf("Build: %v\noutput:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Step 1/") {
		t.Errorf("live output lacks the build steps:\n%s", out.String())
	}

	insp, err := cli.ImageInspect(context.Background(), refs[0])
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != res.ID {
		t.Errorf("result id %s, engine says %s", res.ID, insp.ID)
	}
	for _, r := range refs {
		if !slices.Contains(insp.RepoTags, r) {
			t.Errorf("image tags %v lack %s", insp.RepoTags, r)
		}
	}
	want := map[string]string{
		LabelRevision: "6b75e6fbd6cd52e8a1b2c3d4e5f60718293a4b5c",
		LabelSource:   "https://git.example.com/gravitee/cockpit.git",
		LabelVersion:  "3.0.0",
		LabelCreated:  "2020-12-16T00:44:23Z",
	}
	for k, v := range want {
		if got := insp.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}

	if got, _ := readFromImage(t, cli, refs[0], "/greeting"); got != "hello from a build arg\n" {
		t.Errorf("/greeting = %q: the build arg did not reach RUN", got)
	}
	if _, ok := readFromImage(t, cli, refs[0], "/final"); ok {
		t.Error("/final exists: the build went past the target stage")
	}
	if got, _ := readFromImage(t, cli, refs[0], "/app/index.html"); got != "<h1>cockpit</h1>\n" {
		t.Errorf("/app/index.html = %q", got)
	}
	if _, ok := readFromImage(t, cli, refs[0], "/app/public.env"); !ok {
		t.Error("/app/public.env missing: the ! exception of .dockerignore was not honoured")
	}
	for _, p := range []string{"/app/db.env", "/app/node_modules"} {
		if _, ok := readFromImage(t, cli, refs[0], p); ok {
			t.Errorf("%s is in the image although .dockerignore excludes it", p)
		}
	}
}

// TestBuildGeneratedDockerfileInPreparedFolder is the seed's second
// image: an earlier step prepared a context folder and generated a
// Dockerfile outside it; lint passes and the image is built FROM scratch.
func TestBuildGeneratedDockerfileInPreparedFolder(t *testing.T) {
	cli := testenv.Docker(t)
	work := t.TempDir()
	ctxDir := filepath.Join(work, "build", "webui")
	writeTestFile(t, filepath.Join(ctxDir, "dist", "index.html"), "<h1>web ui</h1>\n")
	dockerfile := filepath.Join(work, "generated", "webui.Dockerfile")
	writeTestFile(t, dockerfile, "FROM scratch\nCOPY dist/ /srv/\nUSER 1000\n")

	repo := uniqueRepo(t, "")
	ref := repo + ":3.0.0-nightly"
	removeImages(t, cli, ref)
	var out bytes.Buffer
	res, err := Build(context.Background(), cli, Options{
		ContextDir: ctxDir,
		Dockerfile: dockerfile,
		Refs:       []string{ref},
		Lint:       &lint.Config{},
		Output:     &out,
	})
	if err != nil {
		t.Fatalf("Build: %v\noutput:\n%s", err, out.String())
	}
	if len(res.Lint) != 0 {
		t.Errorf("lint findings on a clean Dockerfile: %v", res.Lint)
	}
	if got, _ := readFromImage(t, cli, ref, "/srv/index.html"); got != "<h1>web ui</h1>\n" {
		t.Errorf("/srv/index.html = %q", got)
	}
}

// TestLintFailureStopsBuild: a Dockerfile with findings at the threshold
// is never built.
func TestLintFailureStopsBuild(t *testing.T) {
	cli := testenv.Docker(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM busybox:latest\nRUN cd /tmp && echo hi\n")
	ref := uniqueRepo(t, "") + ":1"
	removeImages(t, cli, ref)
	var out bytes.Buffer
	res, err := Build(context.Background(), cli, Options{
		ContextDir: dir,
		Refs:       []string{ref},
		Lint:       &lint.Config{FailureThreshold: lint.SeverityWarning},
		Output:     &out,
	})
	var le *LintError
	if !errors.As(err, &le) {
		t.Fatalf("Build error = %v, want a *LintError", err)
	}
	if !strings.Contains(err.Error(), "build stopped") || !strings.Contains(err.Error(), "at or above warning") {
		t.Errorf("error %q does not say why the build stopped", err)
	}
	rules := map[string]bool{}
	for _, f := range res.Lint {
		rules[f.Rule] = true
	}
	if !rules["DL3007"] || !rules["DL3003"] {
		t.Errorf("findings %v lack DL3007 (latest) and DL3003 (cd)", res.Lint)
	}
	if !strings.Contains(out.String(), "DL3007") {
		t.Errorf("findings not printed:\n%s", out.String())
	}
	if strings.Contains(out.String(), "Step 1/") {
		t.Errorf("the build ran:\n%s", out.String())
	}
	if _, err := cli.ImageInspect(context.Background(), ref); !cerrdefs.IsNotFound(err) {
		t.Errorf("image %s exists after a failed lint (inspect: %v)", ref, err)
	}
}

// TestPushToRegistryAndPullBackByDigest pushes two tags rendered from the
// seed's templates to a real registry with a password, checks the digest
// Build reports is the registry's, then pulls the image back by digest.
func TestPushToRegistryAndPullBackByDigest(t *testing.T) {
	cli := testenv.Docker(t)
	reg := startRegistry(t)
	ctx := context.Background()

	dir := t.TempDir()
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY nonce /nonce\n")
	writeTestFile(t, filepath.Join(dir, "nonce"), hex.EncodeToString(nonce))
	writeTestFile(t, filepath.Join(dir, "VERSION"), "3.0.0\n")

	version, err := tag.ReadVersion(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	vars := tag.Vars{Version: version, Ref: "feature/Login", SHA: "6b75e6fbd6cd52e8a1b2c3d4e5f60718293a4b5c", Time: time.Unix(1608075863, 0)}
	repo := reg.Host + "/gravitee/cockpit-webui"
	var refs, tags []string
	for _, tmpl := range []string{"{version}-nightly", "{branch_slug}-{short_sha}-{unix_ts}"} {
		tg, err := tag.Render(tmpl, vars)
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tg)
		refs = append(refs, repo+":"+tg)
	}
	if tags[0] != "3.0.0-nightly" || tags[1] != "feature-login-6b75e6f-1608075863" {
		t.Fatalf("tags %v", tags)
	}
	removeImages(t, cli, refs...)

	var out bytes.Buffer
	res, err := Build(ctx, cli, Options{
		ContextDir:  dir,
		Refs:        refs,
		Labels:      Provenance{Revision: vars.SHA, Version: version.Tag()}.Labels(),
		Push:        true,
		Credentials: Credentials{Username: reg.User, Password: reg.Password},
		Output:      &out,
	})
	if err != nil {
		t.Fatalf("Build: %v\noutput:\n%s", err, out.String())
	}
	if strings.Contains(out.String(), reg.Password) {
		t.Errorf("the registry password is in the output:\n%s", out.String())
	}
	// The bytes each layer sent, and in all; the second tag sends nothing.
	for _, want := range []string{
		`(?m)^[0-9a-f]{12}: Pushed [1-9][0-9.]*[KM]?i?B$`,
		`(?m)^Pushed ` + regexp.QuoteMeta(refs[0]) + `: [1-9][0-9.]*[KM]?i?B in 1 layers, 0 already in the registry$`,
		`(?m)^Pushed ` + regexp.QuoteMeta(refs[1]) + `: 0B in 0 layers, 1 already in the registry$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("push output lacks %s:\n%s", want, out.String())
		}
	}
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("digest %q", res.Digest)
	}
	for _, tg := range tags {
		got, err := reg.manifestDigest(ctx, "gravitee/cockpit-webui", tg)
		if err != nil {
			t.Fatal(err)
		}
		if got != res.Digest {
			t.Errorf("registry has %s:%s at %s, Build reported %s", repo, tg, got, res.Digest)
		}
	}
	byDigest := repo + "@" + res.Digest
	if res.Image != repo || !slices.Equal(res.Tags, refs) {
		t.Errorf("result image %q tags %v, want %q %v", res.Image, res.Tags, repo, refs)
	}
	if !slices.Equal(res.Pushed, []string{byDigest}) {
		t.Errorf("pushed %v, want [%s]", res.Pushed, byDigest)
	}

	// Forget the local image, then pull it back by digest.
	for _, r := range append(refs, res.ID) {
		_, _ = cli.ImageRemove(ctx, r, client.ImageRemoveOptions{Force: true})
	}
	if _, err := cli.ImageInspect(ctx, res.ID); !cerrdefs.IsNotFound(err) {
		t.Fatalf("image %s still there before the pull: %v", res.ID, err)
	}
	auth, err := Credentials{Username: reg.User, Password: reg.Password}.header(reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	pull, err := cli.ImagePull(ctx, byDigest, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if err := pull.Wait(ctx); err != nil {
		t.Fatalf("pull %s: %v", byDigest, err)
	}
	removeImages(t, cli, byDigest)
	insp, err := cli.ImageInspect(ctx, byDigest)
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != res.ID {
		t.Errorf("pulled image id %s, built %s", insp.ID, res.ID)
	}
	if !slices.Contains(insp.RepoDigests, byDigest) {
		t.Errorf("pulled image digests %v lack %s", insp.RepoDigests, byDigest)
	}
	if got := insp.Config.Labels[LabelRevision]; got != vars.SHA {
		t.Errorf("pulled image revision label %q", got)
	}
}

// TestPushWithWrongPasswordFails: the registry refuses the push, the
// error says so and the password appears nowhere.
func TestPushWithWrongPasswordFails(t *testing.T) {
	cli := testenv.Docker(t)
	reg := startRegistry(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY f /f\n")
	writeTestFile(t, filepath.Join(dir, "f"), "x")
	ref := reg.Host + "/team/app:1"
	removeImages(t, cli, ref)
	const wrong = "not-the-password-42"
	var out bytes.Buffer
	_, err := Build(context.Background(), cli, Options{
		ContextDir:  dir,
		Refs:        []string{ref},
		Push:        true,
		Credentials: Credentials{Username: reg.User, Password: wrong},
		Output:      &out,
	})
	if err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), "push "+ref) || !strings.Contains(strings.ToLower(err.Error()), "auth") {
		t.Errorf("error %q does not say the push was refused for authentication", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(out.String(), wrong) {
		t.Errorf("the password leaked: error %q, output:\n%s", err, out.String())
	}
}
