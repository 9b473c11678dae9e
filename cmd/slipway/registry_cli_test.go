package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// serveRegistry runs `slipway registry serve` on a free loopback port until
// the test ends and returns the URL it prints. At the end it stops the
// process as Ctrl-C would and checks that it exits cleanly.
func serveRegistry(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(slipwayBin, append([]string{"registry", "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}, args...)...)
	cmd.Dir = dir
	var errOut strings.Builder
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			urls <- sc.Text()
		}
		for sc.Scan() {
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("registry serve did not exit cleanly on SIGTERM: %v\n%s", err, errOut.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("registry serve still runs 15s after SIGTERM")
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-exited:
		t.Fatalf("registry serve exited: %v\n%s", err, errOut.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("registry serve printed no URL in 15s\n%s", errOut.String())
	}
	return ""
}

// pushImage pushes a small image to ref and returns the push error.
func pushImage(t *testing.T, ref string, opts ...remote.Option) error {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(r, registrytest.Image(t, 2048), opts...)
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

func TestRegistryServeHtpasswd(t *testing.T) {
	const user, password = "admin", "c0rrect-h0rse"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "users.htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := serveRegistry(t, "--htpasswd", htpasswd)
	host, ok := strings.CutPrefix(url, "http://127.0.0.1:")
	if !ok {
		t.Fatalf("printed URL %q, want http on 127.0.0.1", url)
	}
	host = "127.0.0.1:" + host

	resp, err := http.Get(url + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("GET /v2/ without credentials: %s, WWW-Authenticate %q; want 401 with a Basic challenge",
			resp.Status, resp.Header.Get("WWW-Authenticate"))
	}

	ref := host + "/team/app:v1"
	if err := pushImage(t, ref); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("push without credentials: %v, want 401", err)
	}
	if err := pushImage(t, ref, remote.WithAuth(&authn.Basic{Username: user, Password: "wrong"})); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("push with a wrong password: %v, want 401", err)
	}
	creds := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	if err := pushImage(t, ref, creds); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	if err := registrytest.Pull(ref, creds); err != nil {
		t.Errorf("pull with credentials: %v", err)
	}
	if err := registrytest.Pull(ref); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("pull without credentials: %v, want 401", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "slipway test registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestRegistryServeTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t, t.TempDir())
	url := serveRegistry(t, "--tls-cert", certPath, "--tls-key", keyPath)
	host, ok := strings.CutPrefix(url, "https://")
	if !ok {
		t.Fatalf("printed URL %q, want https", url)
	}

	// A client that does not trust the certificate is turned away.
	if _, err := http.Get(url + "/v2/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET with the system's roots: %v, want a certificate error", err)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	// A connection the client opened and never used holds the server's
	// graceful shutdown for 5s (net/http's rule for new connections).
	t.Cleanup(tr.CloseIdleConnections)
	trusting := remote.WithTransport(tr)
	// The server speaks only https: a push that works went over TLS.
	r, err := name.ParseReference(host + "/secure/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	img := registrytest.Image(t, 2048)
	if err := remote.Write(r, img, trusting); err != nil {
		t.Fatalf("push over https: %v", err)
	}
	want, _ := img.Digest()
	d, err := remote.Head(r, trusting)
	if err != nil || d.Digest != want {
		t.Fatalf("HEAD over https: %v %v, want %s", d, err, want)
	}
	if err := registrytest.Pull(host+"/secure/app@"+want.String(), trusting); err != nil {
		t.Errorf("pull over https: %v", err)
	}
	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS port answered %s", resp.Status)
		}
	}
}

// seedPolicy is seed 002's weekly policy: keep v*, libp2p and netflux, delete
// review-*. The grace period is zero so that garbage collection frees the
// blobs just pushed.
const seedPolicy = `rules:
  - repositories: "**"
    cadence: 7d
    name_regex_delete: '^review-.*$'
    name_regex_keep: '(^v{1}.*$)|(libp2p)|(netflux)'
grace_period: 0s
`

// TestRegistryCleanupSeedPolicy fills a registry's data folder, then runs
// the cleanup on it: first a dry run, then the real one.
func TestRegistryCleanupSeedPolicy(t *testing.T) {
	data := t.TempDir()
	tags := []string{"v1.2.0", "libp2p-x", "netflux-y", "review-feature-a", "review-b", "latest", "main-abc123"}
	digests := map[string]string{}
	t.Run("push", func(t *testing.T) { // the registry stops when the subtest ends
		_, host := registrytest.StartIn(t, data, nil)
		for _, tag := range tags {
			ref := host + "/mute/app:" + tag
			registrytest.Push(t, ref, registrytest.Image(t, 4096))
			digests[tag] = remoteDigest(t, ref)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(seedPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	going := map[string]bool{"review-feature-a": true, "review-b": true}

	out, errOut, code := slipway(t, dir, "registry", "cleanup", "--data", data, "--policy", policy, "--dry-run")
	if code != 0 {
		t.Fatalf("cleanup --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	for _, tag := range tags {
		line := regexp.MustCompile(`(?m)^would delete\s+mute/app:` + regexp.QuoteMeta(tag) + `\s.*$`).FindString(out)
		if going[tag] {
			if !strings.Contains(line, digests[tag][:19]) || !strings.Contains(line, `matches name_regex_delete "^review-.*$"`) {
				t.Errorf("dry run: no line saying %s would go, with its digest and why:\n%s", tag, out)
			}
		} else if strings.Contains(out, "mute/app:"+tag+" ") {
			t.Errorf("dry run lists %s, which the policy keeps:\n%s", tag, out)
		}
	}
	if !strings.Contains(out, "2 of 7 tags would be deleted (dry run)") {
		t.Errorf("dry run summary missing:\n%s", out)
	}
	// --json: every decision, kept tags too, with the digest and why.
	out, errOut, code = slipway(t, dir, "registry", "cleanup", "--data", data, "--policy", policy, "--dry-run", "--json")
	var rep struct {
		DryRun    bool `json:"dry_run"`
		Decisions []struct {
			Repository, Tag, Digest, Reason string
			Delete                          bool
		} `json:"decisions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.DryRun || len(rep.Decisions) != len(tags) {
		t.Fatalf("cleanup --dry-run --json: exit %d\n%s%s", code, out, errOut)
	}
	for _, d := range rep.Decisions {
		if d.Repository != "mute/app" || d.Delete != going[d.Tag] || d.Digest != digests[d.Tag] || d.Reason == "" {
			t.Errorf("--json decision %+v, want delete=%t and digest %s", d, going[d.Tag], digests[d.Tag])
		}
	}
	if remaining := storedTags(t, data); len(remaining) != len(tags) {
		t.Fatalf("after the dry run the registry holds %v, want all of %v", remaining, tags)
	}

	out, errOut, code = slipway(t, dir, "registry", "cleanup", "--data", data, "--policy", policy, "--show-kept")
	if code != 0 {
		t.Fatalf("cleanup: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"2 of 7 tags deleted",
		`keep    mute/app:v1.2.0`,
		"latest is always kept",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cleanup output lacks %q:\n%s", want, out)
		}
	}
	// Each image had one layer of its own: the two deleted images' manifest,
	// config and layer blobs go.
	if m := regexp.MustCompile(`garbage collection: \d+ untagged manifests, (\d+) blobs, (\d+) bytes freed`).FindStringSubmatch(out); m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("no blobs freed by garbage collection:\n%s", out)
	}
	remaining := storedTags(t, data)
	for _, tag := range tags {
		if remaining[tag] == going[tag] {
			t.Errorf("after cleanup, %s present = %v, want %v (remaining: %v)", tag, remaining[tag], !going[tag], remaining)
		}
	}

	// What is left still pulls; what went is gone by digest too.
	_, host := registrytest.StartIn(t, data, nil)
	for _, tag := range tags {
		err := registrytest.Pull(host + "/mute/app@" + digests[tag])
		if going[tag] && err == nil {
			t.Errorf("%s (%s) still pulls by digest after cleanup", tag, digests[tag])
		}
		if !going[tag] && err != nil {
			t.Errorf("kept %s no longer pulls: %v", tag, err)
		}
	}
}

// storedTags opens the registry's storage and returns the tags of mute/app.
func storedTags(t *testing.T, data string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, err := registry.New(ctx, registry.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	infos, err := reg.Store().Tags("mute/app")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, ti := range infos {
		out[ti.Tag] = true
	}
	return out
}
