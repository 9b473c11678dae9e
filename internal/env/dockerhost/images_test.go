package dockerhost_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/testenv"
)

const imagesCompose = `
services:
  web:
    image: ${PULLED}
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    x-slipway: {expose: true, main: true, port: 8080, health: /healthz}
  side:
    image: ${SHARED}
    command: ["sleep", "3600"]
`

// The seed's teardown removed the review environment's image from the
// host. Slipway's removes the images the environment's deploys pulled, once
// no container uses them: not while another environment runs one, and never
// an image that was on the host before (the shared one here).
func TestTeardownRemovesTheImagesItPulled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	shared := image(t, f.cli)

	// An image of its own, in a registry and not on the engine: the
	// deploy pulls it.
	_, addr := registrytest.Start(t, nil)
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	local := testenv.BuildImage(t, f.cli, "slipway-test/pulled:"+stamp, "FROM "+testenv.BusyboxImage(t, f.cli)+"\nLABEL stamp="+stamp+"\n")
	pulled := addr + "/env-test/pulled:" + stamp
	testenv.PushImage(t, f.cli, local, pulled)
	for _, ref := range []string{local, pulled} {
		if _, err := f.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.cli.ImageRemove(context.Background(), pulled, client.ImageRemoveOptions{Force: true}) })

	deploy := func(branch string) dockerhost.Spec {
		t.Helper()
		env, err := compose.Parse(ctx, "compose.yaml", []byte(imagesCompose), map[string]string{"PULLED": pulled, "SHARED": shared})
		if err != nil {
			t.Fatal(err)
		}
		name := "review/" + branch
		s := dockerhost.Spec{Env: slug.Environment(name), Name: name, Services: env.Services}
		t.Cleanup(func() { f.d.Teardown(context.Background(), s.Env) })
		if _, err := f.d.Deploy(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	present := func(ref string) bool {
		t.Helper()
		_, err := f.cli.ImageInspect(ctx, ref)
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	a := deploy("images-a-" + stamp)
	b := deploy("images-b-" + stamp) // finds the image that a pulled
	if !present(pulled) {
		t.Fatalf("%s is not on the engine after the deploys", pulled)
	}
	// A name someone else gave the image is not the environments' to remove.
	other := "slipway-test/other-name:" + stamp
	if _, err := f.cli.ImageTag(ctx, client.ImageTagOptions{Source: pulled, Target: other}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cli.ImageRemove(context.Background(), other, client.ImageRemoveOptions{}) })

	if err := f.d.Teardown(ctx, a.Env); err != nil {
		t.Fatal(err)
	}
	if !present(pulled) {
		t.Errorf("the teardown of %s removed %s, which %s still runs", a.Env, pulled, b.Env)
	}
	if err := f.d.Teardown(ctx, b.Env); err != nil {
		t.Fatal(err)
	}
	if present(pulled) {
		t.Errorf("%s is still on the engine after the teardown of every environment that pulled it", pulled)
	}
	if !present(other) {
		t.Errorf("the teardown removed %s, a name the environments never used", other)
	}
	if !present(shared) {
		t.Errorf("the teardown removed %s, which was on the engine before any deploy", shared)
	}
}

// pushedAway is an image of its own in the registry at addr, named
// repo:tag there and absent from the engine: a deploy must pull it.
func pushedAway(t *testing.T, f *fixture, addr, repo, tag string) string {
	t.Helper()
	ctx := context.Background()
	local := testenv.BuildImage(t, f.cli, "slipway-test/"+repo+":"+tag, "FROM "+testenv.BusyboxImage(t, f.cli)+"\nLABEL stamp="+tag+"\n")
	remote := addr + "/env-test/" + repo + ":" + tag
	testenv.PushImage(t, f.cli, local, remote)
	for _, ref := range []string{local, remote} {
		if _, err := f.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.cli.ImageRemove(context.Background(), remote, client.ImageRemoveOptions{Force: true}) })
	return remote
}

// A redeployed environment's earlier generations are gone before its
// teardown, the images they pulled are not: the teardown removes them too
// (it removed only the last generation's).
func TestTeardownRemovesTheImagesOfEarlierGenerations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	shared := image(t, f.cli)
	_, addr := registrytest.Start(t, nil)
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	first := pushedAway(t, f, addr, "earlier", stamp+"-1")
	second := pushedAway(t, f, addr, "earlier", stamp+"-2")

	name := "review/earlier-" + stamp
	s := dockerhost.Spec{Env: slug.Environment(name), Name: name}
	t.Cleanup(func() { f.d.Teardown(context.Background(), s.Env) })
	var pinned []string
	for _, ref := range []string{first, second} {
		env, err := compose.Parse(ctx, "compose.yaml", []byte(imagesCompose), map[string]string{"PULLED": ref, "SHARED": shared})
		if err != nil {
			t.Fatal(err)
		}
		s.Services = env.Services
		st, err := f.d.Deploy(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		web, _ := st.Service("web")
		pinned = append(pinned, web.Image)
	}
	if err := f.d.Teardown(ctx, s.Env); err != nil {
		t.Fatal(err)
	}
	for _, ref := range append(pinned, first, second) {
		if _, err := f.cli.ImageInspect(ctx, ref); !cerrdefs.IsNotFound(err) {
			t.Errorf("%s is on the engine after the teardown of the environment that pulled it (err %v)", ref, err)
		}
	}
	if _, err := f.cli.ImageInspect(ctx, shared); err != nil {
		t.Errorf("the teardown removed %s, which was on the engine before any deploy: %v", shared, err)
	}
}

// A generation removed alone (a rolled-back canary) or one that fails to
// start takes the images it pulled with it, unless another generation or
// container uses them; they stayed until the environment's teardown.
func TestRemovedGenerationTakesTheImagesItPulled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	shared := image(t, f.cli)
	_, addr := registrytest.Start(t, nil)
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	stable := pushedAway(t, f, addr, "stable", stamp)
	canary := pushedAway(t, f, addr, "canary", stamp)
	crashing := pushedAway(t, f, addr, "crashing", stamp)

	name := "review/canary-" + stamp
	spec := func(pulled string) dockerhost.Spec {
		t.Helper()
		env, err := compose.Parse(ctx, "compose.yaml", []byte(imagesCompose), map[string]string{"PULLED": pulled, "SHARED": shared})
		if err != nil {
			t.Fatal(err)
		}
		return dockerhost.Spec{Env: slug.Environment(name), Name: name, Services: env.Services}
	}
	t.Cleanup(func() { f.d.Teardown(context.Background(), slug.Environment(name)) })
	present := func(ref string) bool {
		t.Helper()
		_, err := f.cli.ImageInspect(ctx, ref)
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	first, err := f.d.StartGeneration(ctx, spec(stable))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.d.StartGeneration(ctx, spec(canary))
	if err != nil {
		t.Fatal(err)
	}
	// A third generation of the stable image: removing it keeps the image
	// the first generation runs.
	third, err := f.d.StartGeneration(ctx, spec(stable))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []int{second.Number, third.Number} {
		if err := f.d.RemoveGeneration(ctx, spec(stable).Env, g); err != nil {
			t.Fatal(err)
		}
	}
	if present(canary) {
		t.Errorf("%s, pulled by generation %d alone, is still on the engine after its removal", canary, second.Number)
	}
	if !present(stable) || !present(shared) {
		t.Errorf("removing generations %d and %d removed %s or %s, which generation %d runs", second.Number, third.Number, stable, shared, first.Number)
	}

	// A generation that crashes at start is removed with its image.
	bad := spec(crashing)
	for i := range bad.Services {
		bad.Services[i].Command = []string{"sh", "-c", "exit 3"}
	}
	if _, err := f.d.StartGeneration(ctx, bad); err == nil {
		t.Fatal("a crashing generation started")
	}
	if present(crashing) {
		t.Errorf("%s, pulled by a generation that failed to start, is still on the engine", crashing)
	}
	if !present(stable) || !present(shared) {
		t.Errorf("the failed start removed %s or %s, which generation %d runs", stable, shared, first.Number)
	}
}

// A rollout resolves its tags first (Resolve pulls them), then starts the
// pinned digests: the images Resolve pulled are the generation's own too,
// and go with it (they stayed, even after a teardown: nothing marked them).
func TestImagesResolvePulledGoWithTheGeneration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	shared := image(t, f.cli)
	_, addr := registrytest.Start(t, nil)
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	canary := pushedAway(t, f, addr, "resolved", stamp)

	name := "review/resolved-" + stamp
	pinned, _, err := f.d.Resolve(ctx, canary)
	if err != nil {
		t.Fatal(err)
	}
	env, err := compose.Parse(ctx, "compose.yaml", []byte(imagesCompose), map[string]string{"PULLED": pinned, "SHARED": shared})
	if err != nil {
		t.Fatal(err)
	}
	s := dockerhost.Spec{Env: slug.Environment(name), Name: name, Services: env.Services}
	t.Cleanup(func() { f.d.Teardown(context.Background(), s.Env) })
	g, err := f.d.StartGeneration(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.d.RemoveGeneration(ctx, s.Env, g.Number); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{canary, pinned} {
		if _, err := f.cli.ImageInspect(ctx, ref); !cerrdefs.IsNotFound(err) {
			t.Errorf("%s is on the engine after the removal of the only generation that ran it (err %v)", ref, err)
		}
	}
	if _, err := f.cli.ImageInspect(ctx, shared); err != nil {
		t.Errorf("the removal took %s, which was on the engine before: %v", shared, err)
	}
}
