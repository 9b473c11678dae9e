package build

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// registryBinary is Debian's docker-registry (the distribution project's
// registry); scripts/registry-bin.sh installs it.
const registryBinary = "docker-registry"

// testRegistry is a real registry process on loopback that asks for a
// user and password (htpasswd), so pushes prove their credentials work.
type testRegistry struct {
	Host     string // 127.0.0.1:port
	User     string
	Password string
}

// startRegistry runs docker-registry on a free loopback port until the
// test ends. It fails the test when the binary is missing.
func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	bin, err := exec.LookPath(registryBinary)
	if err != nil {
		t.Fatalf("%s not found (install it with scripts/registry-bin.sh): %v", registryBinary, err)
	}
	dir := t.TempDir()
	r := &testRegistry{Host: testenv.FreeAddr(t), User: "ci", Password: "s3cret-pushing-pa55"}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	writeTestFile(t, htpasswd, r.User+":"+string(hash)+"\n")
	config := filepath.Join(dir, "config.yml")
	writeTestFile(t, config, fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %s}
http:
  addr: %s
auth:
  htpasswd: {realm: slipway-test, path: %s}
`, filepath.Join(dir, "data"), r.Host, htpasswd))

	cmd := exec.Command(bin, "serve", config)
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("registry on %s did not answer: %v\n%s", r.Host, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// manifestDigest asks the registry which digest a tag points at.
func (r *testRegistry) manifestDigest(ctx context.Context, repo, tag string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, "http://"+r.Host+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD %s: %s", req.URL, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
