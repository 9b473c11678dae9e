// Package images works on images in any OCI registry, the embedded one
// included: promotion by digest (copy, never rebuild) and tag listings.
package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/slipway-cd/slipway/internal/registry"
)

// Options say how to reach registries.
type Options struct {
	// Keychain finds credentials per registry; nil uses docker's config
	// (~/.docker/config.json), as docker login writes it.
	Keychain authn.Keychain
	// Insecure allows plain HTTP to registries other than loopback
	// (loopback is always allowed).
	Insecure bool
}

func (o Options) nameOpts() []name.Option {
	if o.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (o Options) remoteOpts(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
}

// Promote copies the image src (a tag or a digest reference) to dst, with
// every platform of a multi-platform image, byte for byte: the digest at dst
// is the digest at src. Within one registry, layers are mounted, not copied.
// It returns the digest now at dst.
func Promote(ctx context.Context, src, dst string, o Options) (v1.Hash, error) {
	srcRef, err := name.ParseReference(src, o.nameOpts()...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("promote: source %q: %w", src, err)
	}
	dstRef, err := name.ParseReference(dst, o.nameOpts()...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("promote: destination %q: %w", dst, err)
	}
	desc, err := remote.Get(srcRef, o.remoteOpts(ctx)...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("promote: reading %s: %w", src, err)
	}
	// A destination given by digest must name the source's digest.
	if d, ok := dstRef.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return v1.Hash{}, fmt.Errorf("promote: %s is %s, not the digest %s the destination names", src, desc.Digest, d.DigestStr())
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			err = remote.WriteIndex(dstRef, idx, o.remoteOpts(ctx)...)
		}
		if err != nil {
			return v1.Hash{}, fmt.Errorf("promote: copying the index %s to %s: %w", src, dst, err)
		}
	} else {
		img, err := desc.Image()
		if err == nil {
			err = remote.Write(dstRef, img, o.remoteOpts(ctx)...)
		}
		if err != nil {
			return v1.Hash{}, fmt.Errorf("promote: copying %s to %s: %w", src, dst, err)
		}
	}
	// Trust but verify: the destination must answer with the same digest.
	got, err := remote.Head(dstRef, o.remoteOpts(ctx)...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("promote: checking %s: %w", dst, err)
	}
	if got.Digest != desc.Digest {
		return v1.Hash{}, fmt.Errorf("promote: %s has digest %s after the copy, want %s", dst, got.Digest, desc.Digest)
	}
	return desc.Digest, nil
}

// Tags lists the tags of repo ("host:port/team/app"), newest first when
// push times are known. Slipway's registry tells push times; for any other
// registry, tags come with their digests and a zero push time.
func Tags(ctx context.Context, repo string, o Options) ([]registry.TagInfo, error) {
	r, err := name.NewRepository(repo, o.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("tags: repository %q: %w", repo, err)
	}
	tags, err := slipwayTags(ctx, r, o)
	if err == nil {
		return tags, nil
	}
	if !errors.Is(err, errNotSlipway) {
		return nil, err
	}
	names, err := remote.List(r, o.remoteOpts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	sort.Strings(names)
	out := make([]registry.TagInfo, 0, len(names))
	for _, n := range names {
		d, err := remote.Head(r.Tag(n), o.remoteOpts(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %s: %w", repo, n, err)
		}
		out = append(out, registry.TagInfo{Tag: n, Digest: digestOf(d.Digest)})
	}
	return out, nil
}

var errNotSlipway = errors.New("not a Slipway registry")

// slipwayTags asks the embedded registry's extension endpoint.
func slipwayTags(ctx context.Context, r name.Repository, o Options) ([]registry.TagInfo, error) {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth, err := kc.Resolve(r.Registry)
	if err != nil {
		return nil, fmt.Errorf("tags: credentials for %s: %w", r.RegistryStr(), err)
	}
	tr, err := transport.NewWithContext(ctx, r.Registry, auth, http.DefaultTransport, []string{r.Scope(transport.PullScope)})
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", r, err)
	}
	url := fmt.Sprintf("%s://%s/v2/_slipway/tags/%s", r.Scheme(), r.RegistryStr(), r.RepositoryStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", r, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		var body struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) == nil && len(body.Errors) == 1 && body.Errors[0].Code == "NAME_UNKNOWN" {
			return nil, fmt.Errorf("tags of %s: repository unknown", r)
		}
		return nil, errNotSlipway
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errNotSlipway
	}
	var body struct {
		Tags []registry.TagInfo `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("tags of %s: %w", r, err)
	}
	return body.Tags, nil
}
