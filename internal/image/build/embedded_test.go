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
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/team/api/manifests/1.0.0", nil)
	req.SetBasicAuth("ci", "embedded-pw")
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); resp.StatusCode != http.StatusOK || got != res.Digest {
		t.Fatalf("registry answers %s with digest %q, Build reported %q", resp.Status, got, res.Digest)
	}
}
