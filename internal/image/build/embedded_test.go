package build

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestPushWithoutCredentials pushes to a registry that asks for none, as a
// new user's first `slipway image build --push` to a local registry does.
// Docker 20.10 refused such a push before any request reached the registry
// ("Bad parameters and missing X-Registry-Auth").
func TestPushWithoutCredentials(t *testing.T) {
	cli := testenv.Docker(t)
	_, host := registrytest.Start(t, nil)

	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY f /f\n")
	writeTestFile(t, filepath.Join(dir, "f"), uniqueRepo(t, ""))
	ref := host + "/team/anonymous:1.0.0"
	removeImages(t, cli, ref)
	var out bytes.Buffer
	res, err := Build(context.Background(), cli, Options{ContextDir: dir, Refs: []string{ref}, Push: true, Output: &out})
	if err != nil {
		t.Fatalf("Build: %v\noutput:\n%s", err, out.String())
	}
	if got := servedDigest(t, host, "team/anonymous", "1.0.0", ""); got != res.Digest {
		t.Fatalf("registry serves digest %q, Build reported %q", got, res.Digest)
	}
}

// servedDigest asks the registry at host which digest repo:tag has,
// with the password of user ci unless it is empty.
func servedDigest(t *testing.T, host, repo, tag, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	if password != "" {
		req.SetBasicAuth("ci", password)
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", req.URL, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// TestPushToEmbeddedRegistry pushes a build to Slipway's own registry (the
// default a pipeline pushes to), with a password, and checks the digest
// the build reports is the one the registry serves.
func TestPushToEmbeddedRegistry(t *testing.T) {
	cli := testenv.Docker(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("embedded-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"ci": hash}, Realm: "slipway-test"})

	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY f /f\n")
	writeTestFile(t, filepath.Join(dir, "f"), uniqueRepo(t, ""))
	ref := host + "/team/api:1.0.0"
	removeImages(t, cli, ref)
	var out bytes.Buffer
	res, err := Build(context.Background(), cli, Options{
		ContextDir:  dir,
		Refs:        []string{ref},
		Push:        true,
		Credentials: Credentials{Username: "ci", Password: "embedded-pw"},
		Output:      &out,
	})
	if err != nil {
		t.Fatalf("Build: %v\noutput:\n%s", err, out.String())
	}
	if got := servedDigest(t, host, "team/api", "1.0.0", "embedded-pw"); got != res.Digest {
		t.Fatalf("registry serves digest %q, Build reported %q", got, res.Digest)
	}
}
