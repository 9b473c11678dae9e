// Package registrytest starts embedded registries on loopback and pushes
// small images to them, for tests of the registry and of its users.
package registrytest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/registry"
)

// Start serves a fresh registry (data in a test temp folder) on a free
// loopback port and returns it with its host:port. auth may be nil.
func Start(t testing.TB, auth *registry.Auth) (*registry.Registry, string) {
	t.Helper()
	return StartIn(t, t.TempDir(), auth)
}

// StartIn is Start with the data in dir.
func StartIn(t testing.TB, dir string, auth *registry.Auth) (*registry.Registry, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.New(ctx, registry.Config{DataDir: dir, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := &registry.Server{Handler: reg, Addr: "127.0.0.1:0"}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		cancel()
		_ = reg.Close()
	})
	return reg, srv.ListenAddr()
}

// Image builds an image from the given layers plus one random layer of size
// bytes of its own, so that images can share some blobs and not others.
func Image(t testing.TB, size int64, shared ...v1.Layer) v1.Image {
	t.Helper()
	own, err := random.Layer(size, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, append(shared, own)...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Push writes img to ref (e.g. "127.0.0.1:5000/team/app:v1").
func Push(t testing.TB, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// Blobs returns the digests of everything an image is made of: manifest,
// config and layers.
func Blobs(img v1.Image) (map[v1.Hash]int64, error) {
	out := map[v1.Hash]int64{}
	m, err := img.Digest()
	if err != nil {
		return nil, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	out[m] = int64(len(raw))
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	rc, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	out[cfg] = int64(len(rc))
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		sz, err := l.Size()
		if err != nil {
			return nil, err
		}
		out[d] = sz
	}
	return out, nil
}

// Pull fetches ref's manifest and every blob, checking their digests.
func Pull(ref string, opts ...remote.Option) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the digest on Close
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		if _, err := drain(rc); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	return nil
}
