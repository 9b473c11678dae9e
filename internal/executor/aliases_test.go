package executor

import (
	"slices"
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
		if got := ServiceAliases(tc.service); !slices.Equal(got, tc.want) {
			t.Errorf("aliases of %q alias %q = %q, want %q", tc.service.Name, tc.service.Alias, got, tc.want)
		}
	}
}
