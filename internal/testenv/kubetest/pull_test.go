//go:build kube

// The cluster tests run with -tags kube after scripts/kube.sh up, as
// scripts/test.sh does (the cluster's first build on a machine takes minutes).

package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-cd/slipway/internal/registry"
)

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

	img, err := BusyboxOCIImage()
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
