//go:build kube

// The cluster tests run with -tags kube after scripts/kube.sh up, as
// scripts/test.sh does (the cluster's first build on a machine takes minutes).

package kubetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// busyboxLayer is a layer holding the host's static busybox as /bin/busybox
// with /bin/sh and /bin/echo linked to it.
func busyboxLayer(t *testing.T) []byte {
	t.Helper()
	bin, err := os.ReadFile(testenv.BusyboxBinary)
	if err != nil {
		t.Fatalf("busybox: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
		{Name: "bin/echo", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777},
	}
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPodPullsByDigestFromEmbeddedRegistry pushes an image to Slipway's own
// registry on loopback and runs a pod from it by digest: the node pulls
// (containerd speaks plain HTTP to loopback registries), so deploy tests can
// ship what CI built the way production does.
func TestPodPullsByDigestFromEmbeddedRegistry(t *testing.T) {
	c := Cluster(t)
	ns := Namespace(t, c)
	ctx := context.Background()

	reg, err := registry.New(ctx, registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)

	raw := busyboxLayer(t)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	tag, err := name.NewTag(host+"/kubetest/busybox:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/kubetest/busybox@" + digest.String()

	manifest := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pulled"},
"spec":{"restartPolicy":"Never","containers":[{"name":"job","image":"` + ref + `","imagePullPolicy":"Always",
"command":["/bin/sh","-c","echo pulled by digest"]}]}}`
	path := "/api/v1/namespaces/" + ns + "/pods/pulled"
	if err := c.Apply(ctx, path, []byte(manifest)); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var pod struct {
		Status struct {
			Phase             string `json:"phase"`
			ContainerStatuses []struct {
				ImageID string `json:"imageID"`
			} `json:"containerStatuses"`
		} `json:"status"`
	}
	Eventually(t, podTimeout, "pod pulled ends", func(ctx context.Context) error {
		if err := c.Do(ctx, http.MethodGet, path, "", nil, &pod); err != nil {
			return err
		}
		if p := pod.Status.Phase; p != "Succeeded" && p != "Failed" {
			return fmt.Errorf("phase %q", p)
		}
		return nil
	})
	logs, err := c.Logs(ctx, ns, "pulled", "")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != "Succeeded" || logs != "pulled by digest\n" {
		t.Fatalf("phase %s, log %q; want Succeeded and %q", pod.Status.Phase, logs, "pulled by digest\n")
	}
	if n := len(pod.Status.ContainerStatuses); n != 1 || !strings.HasSuffix(pod.Status.ContainerStatuses[0].ImageID, digest.String()) {
		t.Errorf("container statuses %+v; want the image ID to end in %s", pod.Status.ContainerStatuses, digest)
	}
}
