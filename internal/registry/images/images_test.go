package images_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/images"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"golang.org/x/crypto/bcrypt"
)

// anonymous keeps tests away from the machine's docker credentials.
var anonymous = images.Options{Keychain: keychain{authn.Anonymous}}

type keychain struct{ a authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func rawManifest(t *testing.T, ref string) []byte {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r)
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	return d.Manifest
}

func TestPromoteMultiPlatformImageKeepsDigest(t *testing.T) {
	_, staging := registrytest.Start(t, nil)
	_, prod := registrytest.Start(t, nil)
	idx, err := random.Index(2048, 2, 3) // three platforms, two layers each
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	src := staging + "/team/app:rc-1"
	r, _ := name.ParseReference(src)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{
		staging + "/release/app:1.0", // another repository of the same registry
		prod + "/team/app:1.0",       // another registry
	} {
		got, err := images.Promote(context.Background(), src, dst, anonymous)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: digest %s, want %s", dst, got, want)
		}
		if !bytes.Equal(rawManifest(t, dst), rawManifest(t, src)) {
			t.Errorf("%s: the index differs from the source's", dst)
		}
		// Every platform came along, pullable by its own digest.
		m, _ := idx.IndexManifest()
		repo := dst[:strings.LastIndex(dst, ":")]
		for _, child := range m.Manifests {
			if err := registrytest.Pull(repo + "@" + child.Digest.String()); err != nil {
				t.Errorf("%s: platform %s: %v", dst, child.Digest, err)
			}
		}
	}
}

func TestPromoteByDigestAndRefuseWrongDigest(t *testing.T) {
	_, host := registrytest.Start(t, nil)
	img := registrytest.Image(t, 4096)
	registrytest.Push(t, host+"/team/app:main-abc123", img)
	d, _ := img.Digest()
	got, err := images.Promote(context.Background(), host+"/team/app@"+d.String(), host+"/team/app:production", anonymous)
	if err != nil || got != d {
		t.Fatalf("promote by digest: %s, %v; want %s", got, err, d)
	}
	other := registrytest.Image(t, 4096)
	od, _ := other.Digest()
	_, err = images.Promote(context.Background(), host+"/team/app:main-abc123", host+"/team/app@"+od.String(), anonymous)
	if err == nil || !strings.Contains(err.Error(), "not the digest") {
		t.Fatalf("promote to a different digest: %v, want a refusal", err)
	}
}

func TestTagsFromSlipwayRegistryHavePushTimes(t *testing.T) {
	secret, tok, err := registry.NewToken("deploy", []string{"team/**"}, "pull")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	tokens := tokenSource{tok.SHA256: tok, secret: tok}
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"admin": hash}, Tokens: tokens})
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: "pw"})

	before := time.Now().Add(-time.Second)
	v1img, v2img := registrytest.Image(t, 1024), registrytest.Image(t, 1024)
	registrytest.Push(t, host+"/team/app:v1", v1img, admin)
	time.Sleep(20 * time.Millisecond) // distinct push times, so the order is defined
	registrytest.Push(t, host+"/team/app:v2", v2img, admin)
	after := time.Now().Add(time.Second)

	tags, err := images.Tags(context.Background(), host+"/team/app",
		images.Options{Keychain: keychain{&authn.Basic{Username: "deploy", Password: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := v1img.Digest()
	d2, _ := v2img.Digest()
	if len(tags) != 2 || tags[0].Tag != "v2" || tags[1].Tag != "v1" {
		t.Fatalf("tags = %+v, want v2 then v1", tags)
	}
	if tags[0].Digest.String() != d2.String() || tags[1].Digest.String() != d1.String() {
		t.Errorf("digests = %s %s, want %s %s", tags[0].Digest, tags[1].Digest, d2, d1)
	}
	for _, tg := range tags {
		if tg.Pushed.Before(before) || tg.Pushed.After(after) {
			t.Errorf("%s pushed at %s, not during the test", tg.Tag, tg.Pushed)
		}
	}
}

// tokenSource accepts a secret by its plain value (a test stand-in for the
// server's store).
type tokenSource map[string]registry.Token

func (s tokenSource) LookupToken(secret string) (registry.Token, bool) {
	t, ok := s[secret]
	return t, ok
}

func TestTagsFromOtherRegistriesHaveDigests(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := registrytest.Image(t, 1024)
	registrytest.Push(t, host+"/team/app:v1", img)
	tags, err := images.Tags(context.Background(), host+"/team/app", anonymous)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if len(tags) != 1 || tags[0].Tag != "v1" || tags[0].Digest.String() != d.String() {
		t.Fatalf("tags = %+v, want v1 at %s", tags, d)
	}
}
