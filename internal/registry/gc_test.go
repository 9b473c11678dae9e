package registry_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// A layer uploaded ahead of its manifest must survive a collection run
// within the grace period: the client is about to push the manifest.
func TestGCSparesRecentUploadsWithinGracePeriod(t *testing.T) {
	reg, host := registrytest.Start(t, nil)
	layer, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host+"/team/app", name.Insecure)
	if err := remote.WriteLayer(repo, layer); err != nil {
		t.Fatal(err)
	}
	d, _ := layer.Digest()
	kept := registrytest.Image(t, 1024)
	registrytest.Push(t, host+"/team/app:v1", kept)

	rep, err := reg.CollectGarbage(context.Background(), registry.GCOptions{GracePeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.BlobsDeleted) != 0 {
		t.Fatalf("within the grace period GC deleted %v", rep.BlobsDeleted)
	}
	rep, err = reg.CollectGarbage(context.Background(), registry.GCOptions{GracePeriod: 0})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := layer.Size()
	if len(rep.BlobsDeleted) != 1 || rep.BlobsDeleted[0].String() != d.String() || rep.BytesFreed != size {
		t.Fatalf("without grace GC deleted %v (%d bytes), want only the orphan layer %s (%d bytes)", rep.BlobsDeleted, rep.BytesFreed, d, size)
	}
	resp, err := http.Head("http://" + host + "/v2/team/app/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD of the collected layer: %d, want 404", resp.StatusCode)
	}
	if err := registrytest.Pull(host + "/team/app:v1"); err != nil {
		t.Fatalf("the tagged image broke: %v", err)
	}
}
