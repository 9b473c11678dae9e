package imagepolicy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"golang.org/x/crypto/bcrypt"
)

// pushedTags are what our tag templates produce ({version},
// {version}-nightly, {branch}-{short_sha}-{unix_ts}) plus the traps: 1.9.0
// sorts after 1.10.0 as text, a release candidate, and an older build
// whose shorter timestamp sorts last as text.
var pushedTags = []string{
	"1.0.0", "1.2.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "latest",
	"1.1.0-nightly", "1.3.0-nightly",
	"main-abc1234-1700000000", "main-def5678-1700000500", "main-0123abc-999999999",
	"feature-x-1111111-1800000000",
}

const (
	buildPattern = `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`
	nightly      = `^(?P<v>[0-9]+\.[0-9]+\.[0-9]+)-nightly$`
)

// pushAll pushes a distinct image under each tag and returns the digests.
func pushAll(t *testing.T, repo string, opts ...remote.Option) map[string]v1.Hash {
	t.Helper()
	digests := map[string]v1.Hash{}
	for _, tag := range pushedTags {
		img := registrytest.Image(t, 256)
		registrytest.Push(t, repo+":"+tag, img, opts...)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests[tag] = d
	}
	return digests
}

func TestEachPolicySelectsTheLatestTagFromARealRegistry(t *testing.T) {
	_, host := registrytest.Start(t, nil)
	repo := host + "/team/app"
	digests := pushAll(t, repo)

	for _, tc := range []struct {
		name string
		spec imagepolicy.Spec
		want string
	}{
		{"semver range: 1.10 beats 1.9, no pre-releases", imagepolicy.Spec{Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0 <2.0.0"}}, "1.10.0"},
		{"semver tilde", imagepolicy.Spec{Semver: &imagepolicy.SemverSpec{Range: "~1.2"}}, "1.2.0"},
		{"semver range asking for pre-releases", imagepolicy.Spec{Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0-0"}}, "2.0.0-rc.1"},
		{"nightlies by their version", imagepolicy.Spec{Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0"},
			FilterTags: &imagepolicy.FilterSpec{Pattern: nightly, Extract: "$v"}}, "1.3.0-nightly"},
		{"main builds by timestamp, numerically", imagepolicy.Spec{Numerical: &imagepolicy.OrderSpec{Order: "asc"},
			FilterTags: &imagepolicy.FilterSpec{Pattern: buildPattern, Extract: "$ts"}}, "main-def5678-1700000500"},
		{"numerical desc picks the lowest", imagepolicy.Spec{Numerical: &imagepolicy.OrderSpec{Order: "desc"},
			FilterTags: &imagepolicy.FilterSpec{Pattern: buildPattern, Extract: "${ts}"}}, "main-0123abc-999999999"},
		{"alphabetical falls for the 1.9 trap", imagepolicy.Spec{Alphabetical: &imagepolicy.OrderSpec{},
			FilterTags: &imagepolicy.FilterSpec{Pattern: `^1\.[0-9]+\.0$`}}, "1.9.0"},
		{"alphabetical on timestamps of unequal length", imagepolicy.Spec{Alphabetical: &imagepolicy.OrderSpec{Order: "asc"},
			FilterTags: &imagepolicy.FilterSpec{Pattern: buildPattern, Extract: "$ts"}}, "main-0123abc-999999999"},
		{"alphabetical desc", imagepolicy.Spec{Alphabetical: &imagepolicy.OrderSpec{Order: "desc"},
			FilterTags: &imagepolicy.FilterSpec{Pattern: `^main-`}}, "main-0123abc-999999999"},
		{"numerical without filter skips what is not a number", imagepolicy.Spec{Numerical: &imagepolicy.OrderSpec{}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Image = "app", repo
			p, err := imagepolicy.New(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Scan(context.Background(), nil)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "none of the 12 tags") {
					t.Fatalf("got %+v, %v; want an error that no tag fits", res, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tc.want {
				t.Fatalf("selected %s, want %s", res.Tag, tc.want)
			}
			if res.Digest != digests[tc.want].String() {
				t.Errorf("digest %s, want %s (the image pushed as %s)", res.Digest, digests[tc.want], tc.want)
			}
			if got, want := res.Ref(), repo+":"+tc.want; got != want {
				t.Errorf("Ref() = %s, want %s", got, want)
			}
		})
	}
}

func TestPinDigestRefCarriesTheDigest(t *testing.T) {
	r := imagepolicy.Result{Image: "reg/app", Tag: "1.2.0", Digest: "sha256:abc", PinDigest: true}
	if got := r.Ref(); got != "reg/app:1.2.0@sha256:abc" {
		t.Fatalf("Ref() = %s", got)
	}
}

func TestScanWithCredentialsFromEnvNeverShowsThem(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-Pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"robot": hash}})
	repo := host + "/team/app"
	registrytest.Push(t, repo+":1.0.0", registrytest.Image(t, 128), remote.WithAuth(&authn.Basic{Username: "robot", Password: "s3cret-Pw"}))

	p, err := imagepolicy.New(imagepolicy.Spec{Name: "app", Image: repo, CredentialsRef: "env:REG_AUTH",
		Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "REG_AUTH" {
				return v
			}
			return ""
		}
	}
	res, err := p.Scan(context.Background(), env("robot:s3cret-Pw"))
	if err != nil || res.Tag != "1.0.0" {
		t.Fatalf("scan with credentials: %+v, %v", res, err)
	}
	for value, want := range map[string]string{
		"robot:wr0ng-Pw-XYZ": "listing the tags",
		"":                   "env:REG_AUTH: the variable is not set",
		"no-colon-S3CRET":    "want user:password",
	} {
		_, err := p.Scan(context.Background(), env(value))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("credentials %q: %v, want an error with %q", value, err, want)
			continue
		}
		for _, secret := range []string{"wr0ng-Pw-XYZ", "S3CRET", "s3cret-Pw"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		}
	}
	anon, _ := imagepolicy.New(imagepolicy.Spec{Name: "app", Image: repo, Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0"}})
	if _, err := anon.Scan(context.Background(), nil); err == nil {
		t.Error("an anonymous scan of a registry that wants credentials succeeded")
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	ok := &imagepolicy.SemverSpec{Range: ">=1.0.0"}
	for _, extract := range []string{"$1", "${1}", "v$ts", "${ts}.0", "$$"} {
		if _, err := imagepolicy.New(imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok,
			FilterTags: &imagepolicy.FilterSpec{Pattern: "-(?P<ts>[0-9]+)$", Extract: extract}}); err != nil {
			t.Errorf("extract %q: %v", extract, err)
		}
	}
	for _, tc := range []struct {
		spec  imagepolicy.Spec
		field string
	}{
		{imagepolicy.Spec{Image: "reg/app", Semver: ok}, "name"},
		{imagepolicy.Spec{Name: "app:tag", Image: "reg/app", Semver: ok}, "name"},
		{imagepolicy.Spec{Name: "a", Semver: ok}, "image"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app:1.0", Semver: ok}, "image"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", CredentialsRef: "file:/x", Semver: ok}, "credentials_ref"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: &imagepolicy.SemverSpec{Range: ">=1.0.0 <<2"}}, "policy.semver.range"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Numerical: &imagepolicy.OrderSpec{Order: "up"}}, "policy.numerical.order"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Alphabetical: &imagepolicy.OrderSpec{Order: "down"}}, "policy.alphabetical.order"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app"}, "policy"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok, Numerical: &imagepolicy.OrderSpec{}}, "policy"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok, FilterTags: &imagepolicy.FilterSpec{Pattern: "(unclosed"}}, "filterTags.pattern"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok, FilterTags: &imagepolicy.FilterSpec{Extract: "$ts"}}, "filterTags.pattern"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok, FilterTags: &imagepolicy.FilterSpec{Pattern: "-(?P<ts>[0-9]+)$", Extract: "$tz"}}, "filterTags.extract"},
		{imagepolicy.Spec{Name: "a", Image: "reg/app", Semver: ok, FilterTags: &imagepolicy.FilterSpec{Pattern: "-([0-9]+)$", Extract: "v$2"}}, "filterTags.extract"},
	} {
		_, err := imagepolicy.New(tc.spec)
		var fe *imagepolicy.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want an error on %s", tc.spec, err, tc.field)
		}
	}
}
