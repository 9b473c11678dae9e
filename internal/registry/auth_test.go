package registry_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

// authRegistry serves a registry with one htpasswd user (admin/s3cret) and
// the given project tokens, loaded from files as `registry serve` does.
func authRegistry(t *testing.T, tokens ...registry.Token) string {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("admin:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := registry.LoadHtpasswd(htpasswd)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(map[string]any{"tokens": tokens})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokenFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := registry.LoadTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	_, host := registrytest.Start(t, &registry.Auth{Users: users, Tokens: tf})
	return host
}

func TestNoCredentialsGets401WithBasicChallenge(t *testing.T) {
	host := authRegistry(t)
	for _, path := range []string{"/v2/", "/v2/team/app/tags/list", "/v2/_catalog"} {
		resp, err := http.Get("http://" + host + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, resp.StatusCode)
		}
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic realm=") {
			t.Errorf("GET %s: WWW-Authenticate = %q, want a Basic challenge", path, ch)
		}
	}
	// A wrong password is no better than none.
	err := registrytest.Pull(host+"/team/app:v1", remote.WithAuth(&authn.Basic{Username: "admin", Password: "wrong"}))
	if statusOf(err) != http.StatusUnauthorized {
		t.Errorf("pull with a wrong password: %v, want 401", err)
	}
}

func TestHtpasswdUserPushesAndPulls(t *testing.T) {
	host := authRegistry(t)
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: "s3cret"})
	registrytest.Push(t, host+"/team/app:v1", registrytest.Image(t, 1024), admin)
	if err := registrytest.Pull(host+"/team/app:v1", admin); err != nil {
		t.Fatal(err)
	}
	if err := registrytest.Pull(host + "/team/app:v1"); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous pull: %v, want 401", err)
	}
}

func TestPullOnlyTokenCannotPush(t *testing.T) {
	pullSecret, pullTok, err := registry.NewToken("webapp-deploy", []string{"team/webapp", "team/webapp/**"}, "pull")
	if err != nil {
		t.Fatal(err)
	}
	pushSecret, pushTok, err := registry.NewToken("webapp-ci", []string{"team/webapp/**"}, "push")
	if err != nil {
		t.Fatal(err)
	}
	host := authRegistry(t, pullTok, pushTok)
	asPusher := remote.WithAuth(&authn.Basic{Username: "ci", Password: pushSecret})
	asPuller := remote.WithAuth(&authn.Bearer{Token: pullSecret})
	img := registrytest.Image(t, 2048)

	registrytest.Push(t, host+"/team/webapp/api:v1", img, asPusher)
	if err := registrytest.Pull(host+"/team/webapp/api:v1", asPuller); err != nil {
		t.Fatalf("pull-only token cannot pull: %v", err)
	}
	err = pushErr(host+"/team/webapp/api:v2", img, asPuller)
	if statusOf(err) != http.StatusForbidden {
		t.Fatalf("push with a pull-only token: %v, want 403", err)
	}
	// A push token is bound to its repositories.
	err = pushErr(host+"/team/other:v1", img, asPusher)
	if statusOf(err) != http.StatusForbidden {
		t.Fatalf("push outside the token's repositories: %v, want 403", err)
	}
	if err := registrytest.Pull(host+"/team/webapp/api:v1", remote.WithAuth(&authn.Bearer{Token: pullSecret + "x"})); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("pull with an unknown token: %v, want 401", err)
	}
}

func TestTokenFileErrorsNamePosition(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	doc := "tokens:\n  - name: ci\n    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n    repositories: [team/**]\n    access: admin\n"
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := registry.LoadTokenFile(p)
	if err == nil || !strings.Contains(err.Error(), p+":5:13: tokens[0].access") {
		t.Fatalf("error = %v, want it to name %s:5:13 and the field", err, p)
	}
}

// TestUnknownUserCostsABcrypt: a wrong password for a user that does not
// exist costs the same bcrypt comparison as one for a user that does, so
// the answer's time does not tell the htpasswd's user names.
func TestUnknownUserCostsABcrypt(t *testing.T) {
	host := authRegistry(t)
	var n atomic.Int64
	defer registry.CountHashCompares(&n)()
	for _, user := range []string{"admin", "nobody"} {
		n.Store(0)
		req, _ := http.NewRequest("GET", "http://"+host+"/v2/", nil)
		req.SetBasicAuth(user, "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || n.Load() != 1 {
			t.Errorf("user %q, wrong password: %d after %d bcrypt comparisons, want 401 after 1", user, resp.StatusCode, n.Load())
		}
	}
}
