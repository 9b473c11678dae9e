package registry_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// catalogGet fetches path (with its query) with the given credentials and
// returns the status, the repositories listed and the Link header.
func catalogGet(t *testing.T, host, path string, auth func(*http.Request)) (int, []string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Repositories []string `json:"repositories"`
		Errors       []struct{ Code string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if len(body.Errors) > 0 {
		return resp.StatusCode, []string{body.Errors[0].Code}, ""
	}
	return resp.StatusCode, body.Repositories, resp.Header.Get("Link")
}

// TestCatalogPagesThroughRepositoriesTheCallerMayPull walks the catalog as
// `crane catalog` or a registry UI does: n per page, following Link.
func TestCatalogPagesThroughRepositoriesTheCallerMayPull(t *testing.T) {
	secret, tok, err := registry.NewToken("webapp-deploy", []string{"team/webapp/**"}, "pull")
	if err != nil {
		t.Fatal(err)
	}
	host := authRegistry(t, tok)
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "s3cret") }
	asAdmin := remote.WithAuth(&authn.Basic{Username: "admin", Password: "s3cret"})
	all := []string{"alpha", "team/other", "team/webapp/api", "team/webapp/web", "zeta/tools"}
	for _, repo := range all {
		registrytest.Push(t, host+"/"+repo+":v1", registrytest.Image(t, 64), asAdmin)
	}

	if code, got, link := catalogGet(t, host, "/v2/_catalog", admin); code != http.StatusOK || !slices.Equal(got, all) || link != "" {
		t.Fatalf("whole catalog: %d %v (Link %q), want 200 %v and no Link", code, got, link, all)
	}
	var walked []string
	path := "/v2/_catalog?n=2"
	for pages := 0; path != ""; pages++ {
		if pages > len(all) {
			t.Fatalf("the Link headers do not end: %v", walked)
		}
		code, got, link := catalogGet(t, host, path, admin)
		if code != http.StatusOK || len(got) > 2 {
			t.Fatalf("GET %s: %d %v, want 200 and at most 2", path, code, got)
		}
		walked = append(walked, got...)
		path = ""
		if link != "" {
			target, rel, ok := strings.Cut(link, ">; ")
			if !ok || rel != `rel="next"` || !strings.HasPrefix(target, "</v2/_catalog?") {
				t.Fatalf("Link %q, want </v2/_catalog?…>; rel=\"next\"", link)
			}
			path = strings.TrimPrefix(target, "<")
		}
	}
	if !slices.Equal(walked, all) {
		t.Fatalf("pages of 2 gave %v, want %v", walked, all)
	}
	if _, got, link := catalogGet(t, host, "/v2/_catalog?n=10&last=team/other", admin); !slices.Equal(got, all[2:]) || link != "" {
		t.Fatalf("after team/other: %v (Link %q), want %v", got, link, all[2:])
	}
	if code, got, _ := catalogGet(t, host, "/v2/_catalog?n=-1", admin); code != http.StatusBadRequest || !slices.Equal(got, []string{"PAGINATION_NUMBER_INVALID"}) {
		t.Fatalf("n=-1: %d %v, want 400 PAGINATION_NUMBER_INVALID", code, got)
	}

	// A project token sees its own repositories only.
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	if code, got, _ := catalogGet(t, host, "/v2/_catalog", bearer); code != http.StatusOK || !slices.Equal(got, all[2:4]) {
		t.Fatalf("token's catalog: %d %v, want 200 %v", code, got, all[2:4])
	}
	if code, got, link := catalogGet(t, host, "/v2/_catalog?n=1", bearer); !slices.Equal(got, all[2:3]) || !strings.Contains(link, "last=team%2Fwebapp%2Fapi") {
		t.Fatalf("token's first page: %d %v (Link %q), want %v and a Link after it", code, got, link, all[2:3])
	}
}
