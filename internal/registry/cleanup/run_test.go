package cleanup_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// The seed's weekly policy: keep v*, libp2p and netflux tags, delete review-*.
const seedPolicy = `
rules:
  - repositories: "**"
    cadence: 7d
    name_regex_keep: '(^v{1}.*$)|(libp2p)|(netflux)'
    name_regex_delete: '^review-.*$'
grace_period: 0s
`

var seedTags = []string{"v1.2.0", "libp2p-x", "netflux-y", "review-feature-a", "review-b", "latest", "main-abc123"}

func listTags(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

func TestSeedPolicyDeletesReviewTagsAndFreesTheirBlobs(t *testing.T) {
	reg, host := registrytest.Start(t, nil)
	repo := host + "/team/app"
	base, err := random.Layer(32<<10, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]v1.Image{}
	for _, tag := range seedTags {
		img := registrytest.Image(t, 16<<10, base) // a shared base layer and one of its own
		registrytest.Push(t, repo+":"+tag, img)
		images[tag] = img
	}
	policy, err := cleanup.ParsePolicy("policy.yaml", []byte(seedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := []string{"review-b", "review-feature-a"}
	wantKept := []string{"latest", "libp2p-x", "main-abc123", "netflux-y", "v1.2.0"}

	// Dry run: the same set is listed, nothing is deleted.
	dry, err := cleanup.Run(context.Background(), reg, policy, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(dry.Deleted()); !slices.Equal(got, wantDeleted) {
		t.Fatalf("dry run would delete %v, want %v", got, wantDeleted)
	}
	if dry.GC != nil {
		t.Fatal("dry run collected garbage")
	}
	all := append([]string(nil), seedTags...)
	sort.Strings(all)
	if got := listTags(t, repo); !slices.Equal(got, all) {
		t.Fatalf("after the dry run the registry holds %v, want all of %v", got, all)
	}

	// The blobs only the review images use: their manifests, configs and own layers.
	wantFreed := map[v1.Hash]int64{}
	for _, tag := range wantDeleted {
		blobs, err := registrytest.Blobs(images[tag])
		if err != nil {
			t.Fatal(err)
		}
		for d, size := range blobs {
			wantFreed[d] = size
		}
	}
	baseDigest, _ := base.Digest()
	delete(wantFreed, baseDigest)

	// The real run, while a client keeps pulling a kept tag.
	var pulls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pullErr error
	started := make(chan struct{})
	var once sync.Once
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer once.Do(func() { close(started) })
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := registrytest.Pull(repo + ":v1.2.0"); err != nil {
				pullErr = err
				return
			}
			pulls.Add(1)
			once.Do(func() { close(started) }) // the run starts once pulls are going
		}
	}()
	<-started
	rep, err := cleanup.Run(context.Background(), reg, policy, false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if pullErr != nil {
		t.Fatalf("a pull of a kept tag failed during cleanup: %v", pullErr)
	}
	if got := tagsOf(rep.Deleted()); !slices.Equal(got, wantDeleted) {
		t.Fatalf("deleted %v, want %v", got, wantDeleted)
	}
	if got := listTags(t, repo); !slices.Equal(got, wantKept) {
		t.Fatalf("after cleanup the registry holds %v, want %v", got, wantKept)
	}
	gotFreed := map[v1.Hash]bool{}
	for _, d := range rep.GC.BlobsDeleted {
		h, _ := v1.NewHash(d.String())
		gotFreed[h] = true
	}
	var wantBytes int64
	for d, size := range wantFreed {
		wantBytes += size
		if !gotFreed[d] {
			t.Errorf("blob %s used only by a deleted tag was not freed", d)
		}
	}
	if len(gotFreed) != len(wantFreed) {
		t.Errorf("freed %d blobs, want %d (only those of the deleted tags)", len(gotFreed), len(wantFreed))
	}
	if rep.GC.BytesFreed != wantBytes {
		t.Errorf("bytes freed = %d, want %d", rep.GC.BytesFreed, wantBytes)
	}
	// Every kept tag still pulls whole; the deleted ones are gone.
	for _, tag := range wantKept {
		if err := registrytest.Pull(repo + ":" + tag); err != nil {
			t.Errorf("kept tag %s: %v", tag, err)
		}
	}
	for _, tag := range wantDeleted {
		err := registrytest.Pull(repo + ":" + tag)
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
			t.Errorf("deleted tag %s: got %v, want 404", tag, err)
		}
	}
	t.Logf("%d pulls of v1.2.0 during cleanup; sweep held pushes for %s", pulls.Load(), rep.GC.SweepDuration)
}

func tagsOf(ds []cleanup.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Tag)
	}
	sort.Strings(out)
	return out
}

// TestRunRulesLeavesReposOfRulesNotDue: the scheduler runs only the rules
// that are due; a repository whose first matching rule is not due keeps its
// tags even though a later, due rule matches it too.
func TestRunRulesLeavesReposOfRulesNotDue(t *testing.T) {
	reg, host := registrytest.Start(t, nil)
	p, err := cleanup.ParsePolicy("p.yaml", []byte(`
rules:
  - repositories: "team/**"
    cadence: 7d
    name_regex_delete: "review-.*"
  - repositories: "**"
    cadence: 1d
    name_regex_delete: "review-.*"
grace_period: 0s
`))
	if err != nil {
		t.Fatal(err)
	}
	registrytest.Push(t, host+"/team/app:review-a", registrytest.Image(t, 64))
	registrytest.Push(t, host+"/other/app:review-a", registrytest.Image(t, 64))
	daily := &p.Rules[1]
	rep, err := cleanup.RunRules(context.Background(), reg, p, func(r *cleanup.Rule) bool { return r == daily }, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := listTags(t, host+"/other/app"); len(got) != 0 {
		t.Errorf("the due rule left other/app with %v", got)
	}
	if got := listTags(t, host+"/team/app"); !slices.Equal(got, []string{"review-a"}) {
		t.Errorf("team/app, whose rule is not due, has %v; want review-a kept", got)
	}
	if len(rep.Decisions) != 1 || rep.Decisions[0].Repository != "other/app" {
		t.Errorf("decisions %+v, want only other/app's", rep.Decisions)
	}
}
