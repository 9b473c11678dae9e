package docker

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
)

func TestServiceAliasesFollowGitLab(t *testing.T) {
	for _, tc := range []struct {
		service ci.Service
		want    []string
	}{
		{ci.Service{Name: "postgres:15"}, []string{"postgres"}},
		{ci.Service{Name: "postgres:15", Alias: "db"}, []string{"db", "postgres"}},
		{ci.Service{Name: "tutum/wordpress:latest"}, []string{"tutum__wordpress", "tutum-wordpress"}},
		{ci.Service{Name: "registry.example.com/a/b:1"}, []string{"a__b", "a-b"}},
		{ci.Service{Name: "registry.example.com:5000/a/b@sha256:0123"}, []string{"a__b", "a-b"}},
		{ci.Service{Name: "localhost/team/api"}, []string{"team__api", "team-api"}},
		{ci.Service{Name: "redis", Alias: "cache, store,cache"}, []string{"cache", "store", "redis"}},
	} {
		if got := serviceAliases(tc.service); !slices.Equal(got, tc.want) {
			t.Errorf("aliases of %q alias %q = %q, want %q", tc.service.Name, tc.service.Alias, got, tc.want)
		}
	}
}

func TestOwnerGoneOnlyForDeadProcessesOfThisHost(t *testing.T) {
	if ownerGone(owner()) {
		t.Error("this very process is taken for gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := host + "/" + strconv.Itoa(cmd.Process.Pid) + "/1"
	if !ownerGone(dead) {
		t.Errorf("%s (an exited process) not taken for gone", dead)
	}
	// Same pid, other start time: the pid was reused by another process.
	reused := host + "/" + strconv.Itoa(os.Getpid()) + "/1"
	if !ownerGone(reused) {
		t.Errorf("%s (a reused pid) not taken for gone", reused)
	}
	for _, unknown := range []string{"", "garbage", "other-host/1/1"} {
		if ownerGone(unknown) {
			t.Errorf("%q taken for gone: nothing here can tell", unknown)
		}
	}
}
