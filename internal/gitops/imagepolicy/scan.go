package imagepolicy

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Result is the image a policy selected.
type Result struct {
	Policy string
	// Image is the repository as the policy names it.
	Image string
	Tag   string
	// Digest is what the tag pointed at when scanned: sha256:….
	Digest string
	// PinDigest says references should carry the digest.
	PinDigest bool
}

// Ref is the reference to write for the whole image: image:tag, or
// image:tag@sha256:… when the policy pins digests (the tag stays for
// people; the digest is what runs).
func (r Result) Ref() string {
	if r.PinDigest {
		return r.Image + ":" + r.Tag + "@" + r.Digest
	}
	return r.Image + ":" + r.Tag
}

// Scan lists the tags of the policy's repository, selects the latest and
// resolves its digest. Loopback and private-address registries are tried
// over HTTPS, then plain HTTP (go-containerregistry's rule); others get
// HTTPS only.
// getenv reads the credentials the policy refers to (os.Getenv when nil).
func (p *Policy) Scan(ctx context.Context, getenv func(string) string) (Result, error) {
	auth, err := p.auth(getenv)
	if err != nil {
		return Result{}, err
	}
	// One listing and one HEAD per scan: a registry with thousands of tags
	// is scanned as cheaply as one with three.
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	tags, err := remote.List(p.repo, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("image policy %s: listing the tags of %s: %w", p.Name, p.Image, err)
	}
	tag, err := p.Select(tags)
	if err != nil {
		return Result{}, err
	}
	desc, err := remote.Head(p.repo.Tag(tag), opts...)
	if err != nil {
		return Result{}, fmt.Errorf("image policy %s: resolving %s:%s: %w", p.Name, p.Image, tag, err)
	}
	return Result{Policy: p.Name, Image: p.Image, Tag: tag, Digest: desc.Digest.String(), PinDigest: p.PinDigest}, nil
}

// auth reads the credentials; errors name the variable, never its value.
func (p *Policy) auth(getenv func(string) string) (authn.Authenticator, error) {
	if p.credEnv == "" {
		return authn.Anonymous, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(p.credEnv)
	if v == "" {
		return nil, fmt.Errorf("image policy %s: credentials_ref env:%s: the variable is not set", p.Name, p.credEnv)
	}
	user, pass, ok := strings.Cut(v, ":")
	if !ok || user == "" {
		return nil, fmt.Errorf("image policy %s: credentials_ref env:%s: want user:password in the variable", p.Name, p.credEnv)
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}

// ScanAll scans every policy and returns the results by policy name.
func ScanAll(ctx context.Context, policies []*Policy, getenv func(string) string) (map[string]Result, error) {
	results := make(map[string]Result, len(policies))
	for _, p := range policies {
		r, err := p.Scan(ctx, getenv)
		if err != nil {
			return nil, err
		}
		results[p.Name] = r
	}
	return results, nil
}
