package server_test

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestServeEmbedsRegistryWithCleanup: `slipway serve` serves the OCI
// registry at /v2/ and applies the seed's cleanup policy on demand.
func TestServeEmbedsRegistryWithCleanup(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "cleanup.yml")
	os.WriteFile(policy, []byte(`
rules:
  - repositories: "mute/*"
    cadence: 7d
    name_regex_delete: "^review-.*$"
    name_regex_keep: "(^v{1}.*$)|(libp2p)|(netflux)"
grace_period: 0s
`), 0o644)
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("registry:\n  cleanup_policy: "+policy+"\n"), 0o644)
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	host := strings.TrimPrefix(s.url, "http://")
	for _, tag := range []string{"v1.2.0", "libp2p-x", "netflux-y", "review-feature-a", "review-b", "latest", "main-abc123"} {
		registrytest.Push(t, host+"/mute/app:"+tag, registrytest.Image(t, 1024), s.registryAuth())
	}
	var report struct {
		Decisions []struct {
			Tag    string `json:"tag"`
			Delete bool   `json:"delete"`
		} `json:"decisions"`
	}
	if code := s.do("POST", "/api/registry/cleanup?dry_run=true", nil, &report); code != http.StatusCreated {
		t.Fatalf("dry run: %d", code)
	}
	var wouldGo []string
	for _, d := range report.Decisions {
		if d.Delete {
			wouldGo = append(wouldGo, d.Tag)
		}
	}
	sort.Strings(wouldGo)
	if strings.Join(wouldGo, ",") != "review-b,review-feature-a" {
		t.Errorf("dry run would delete %v", wouldGo)
	}
	if tags := listTags(t, host, "mute/app"); len(tags) != 7 {
		t.Errorf("the dry run deleted something: %v", tags)
	}
	s.do("POST", "/api/registry/cleanup", nil, nil)
	tags := listTags(t, host, "mute/app")
	sort.Strings(tags)
	if strings.Join(tags, ",") != "latest,libp2p-x,main-abc123,netflux-y,v1.2.0" {
		t.Errorf("after cleanup: %v", tags)
	}
}

// registryAuth signs a push in with the API token serve made.
func (s *serverProc) registryAuth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: "ci", Password: s.token})
}

// TestServeRegistryPushNeedsTheAPIToken: the registry of a server that
// asks a token for its API asks one for pushes: an anonymous push (or one
// with a wrong password) is refused, the API token pushes, anyone pulls.
func TestServeRegistryPushNeedsTheAPIToken(t *testing.T) {
	s := startServer(t, storetest.SQLiteURL(t), t.TempDir(), "")
	ref, err := name.ParseReference(strings.TrimPrefix(s.url, "http://")+"/shop/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img := registrytest.Image(t, 1024)
	for what, opts := range map[string][]remote.Option{
		"anonymous":        nil,
		"a wrong password": {remote.WithAuth(&authn.Basic{Username: "ci", Password: "not-the-api-token"})},
	} {
		var terr *transport.Error
		if err := remote.Write(ref, img, opts...); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s push: %v, want 401", what, err)
		}
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatalf("a refused push stored the image")
	}
	registrytest.Push(t, ref.String(), img, s.registryAuth())
	if err := registrytest.Pull(ref.String()); err != nil {
		t.Errorf("anonymous pull: %v", err)
	}
}

func listTags(t *testing.T, host, repository string) []string {
	t.Helper()
	repo, err := name.NewRepository(host+"/"+repository, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

type cleanupStatus struct {
	Rules []struct {
		Repositories string     `json:"repositories"`
		Cadence      string     `json:"cadence"`
		LastRunAt    *time.Time `json:"last_run_at"`
		NextRunAt    time.Time  `json:"next_run_at"`
	} `json:"rules"`
}

// TestCleanupHonoursCadenceAcrossRestarts: the server applies each rule on
// its own cadence, not every cleanup_every, and a restart keeps the times.
func TestCleanupHonoursCadenceAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "cleanup.yml")
	os.WriteFile(policy, []byte(`
rules:
  - repositories: "weekly/*"
    cadence: 7d
    name_regex_delete: "review-.*"
  - repositories: "often/*"
    name_regex_delete: "review-.*"
`), 0o644)
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte("registry:\n  cleanup_policy: "+policy+"\n  cleanup_every: 100ms\n"), 0o644)
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	host := strings.TrimPrefix(s.url, "http://")
	registrytest.Push(t, host+"/weekly/app:review-a", registrytest.Image(t, 256), s.registryAuth())
	registrytest.Push(t, host+"/often/app:review-a", registrytest.Image(t, 256), s.registryAuth())

	deadline := time.Now().Add(time.Minute)
	for slices.Contains(listTags(t, host, "often/app"), "review-a") {
		if time.Now().After(deadline) {
			t.Fatal("the rule without cadence did not run")
		}
		time.Sleep(50 * time.Millisecond) // it runs at every check
	}
	if tags := listTags(t, host, "weekly/app"); !slices.Contains(tags, "review-a") {
		t.Fatalf("the 7d rule ran with the every-check rule: weekly/app has %v", tags)
	}
	var before cleanupStatus
	if code := s.do("GET", "/api/registry/cleanup", nil, &before); code != http.StatusOK || len(before.Rules) != 2 {
		t.Fatalf("GET /api/registry/cleanup: %d %+v", code, before)
	}
	weekly, often := before.Rules[0], before.Rules[1]
	if weekly.Repositories != "weekly/*" || weekly.LastRunAt != nil || time.Until(weekly.NextRunAt) < 6*24*time.Hour {
		t.Errorf("weekly rule %+v: want no run yet and the next in 7 days", weekly)
	}
	if often.Repositories != "often/*" || often.LastRunAt == nil {
		t.Errorf("often rule %+v: want a last run", often)
	}

	s.kill()
	s = s.restart()
	var after cleanupStatus
	s.do("GET", "/api/registry/cleanup", nil, &after)
	if len(after.Rules) != 2 || !after.Rules[0].NextRunAt.Equal(weekly.NextRunAt) {
		t.Fatalf("after a restart the weekly rule is %+v, want its next run still at %v", after.Rules, weekly.NextRunAt)
	}
	out, err := exec.Command(slipwayBin, "registry", "cleanup", "status", "--server", s.url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "weekly/*") || !strings.Contains(string(out), weekly.NextRunAt.Local().Format(time.DateTime)) {
		t.Errorf("slipway registry cleanup status: %v\n%s", err, out)
	}
}
