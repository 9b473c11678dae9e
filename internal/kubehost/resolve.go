package kubehost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// Resolve returns image pinned by digest, asking its registry for the
// digest of a tag every time (a tag pushed again resolves to its new
// digest); id is that digest. The node pulls the image itself. An image
// whose registry cannot be reached at all (no such host, connection
// refused: an image imported into the nodes, say) runs by its tag, and id
// is "": the node's copy is what runs.
func (h *Host) Resolve(ctx context.Context, image string) (pinned, id string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", image, err)
	}
	if d, ok := named.(reference.Digested); ok {
		return image, d.Digest().String(), nil
	}
	tagged := reference.TagNameOnly(named)
	ref, err := name.ParseReference(tagged.String())
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", image, err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if unreachable(err) {
		h.log.Warn("kubehost: registry unreachable; the image runs by its tag", "image", image, "err", err)
		return image, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", image, err)
	}
	dgst, err := digest.Parse(desc.Digest.String())
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", image, err)
	}
	withDigest, err := reference.WithDigest(reference.TrimNamed(named), dgst)
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", image, err)
	}
	return reference.FamiliarString(withDigest), dgst.String(), nil
}

// unreachable tells an error of a registry that is not there (no such
// host, nothing listening) from one that answered.
func unreachable(err error) bool {
	var dns *net.DNSError
	return err != nil && (errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED))
}
