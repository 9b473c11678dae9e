package env

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestTeardownRemovesTheImagesOfEveryDeployment: the example pushes its
// image under the branch's tag at every push, so the first deploy's image
// stays on the host as host/shop/app@sha256:... once the second is pushed.
// The teardown removes the images of every deployment of the environment,
// not only of the last one.
func TestTeardownRemovesTheImagesOfEveryDeployment(t *testing.T) {
	ctx := context.Background()
	_, m := server(t, storetest.SQLiteURL(t), "images")
	cli := testenv.Docker(t)
	_, addr := registrytest.Start(t, nil)
	m.RegistryHost = addr
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	tag := addr + "/shop/app:review-x-" + stamp

	var deployed, byDigest []string
	for i := range 2 {
		local := testenv.BuildImage(t, cli, fmt.Sprintf("slipway-test/app:%s-%d", stamp, i),
			fmt.Sprintf("FROM %s\nLABEL build=%s-%d\n", testenv.BusyboxImage(t, cli), stamp, i))
		testenv.PushImage(t, cli, local, tag)
		if _, err := cli.ImageRemove(ctx, local, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		insp, err := cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range insp.RepoDigests {
			if _, digest, ok := strings.Cut(rd, "@"); ok && strings.HasPrefix(rd, addr+"/shop/app@") {
				deployed = append(deployed, tag+"@"+digest)
				byDigest = append(byDigest, rd)
				t.Cleanup(func() { cli.ImageRemove(context.Background(), rd, client.ImageRemoveOptions{Force: true}) })
			}
		}
	}
	if len(byDigest) != 2 || byDigest[0] == byDigest[1] {
		t.Fatalf("want two images of the tag, by digest: %v", byDigest)
	}

	p, err := m.Store.CreateProject(ctx, store.Project{Name: "shop", RepoURL: "file:///srv/shop.git"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Store.UpsertEnvironment(ctx, store.Environment{ProjectID: p.ID, Name: "review/x", Slug: "review-x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range deployed {
		d, err := m.Store.CreateDeployment(ctx, store.Deployment{EnvironmentID: e.ID, Ref: "x", SHA: "0123456789abcdef0123456789abcdef01234567",
			Status: store.DeployRunning, Images: map[string]string{"app": ref}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Store.SetDeploymentStatus(ctx, d.ID, store.DeploySuccess); err != nil {
			t.Fatal(err)
		}
	}
	if e, err = m.Store.GetEnvironment(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, ref := range append(byDigest, tag) {
		if _, err := cli.ImageInspect(ctx, ref); !cerrdefs.IsNotFound(err) {
			t.Errorf("%s is on the host after the environment's teardown (err %v)", ref, err)
		}
	}
}
