package proxy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/slug"
)

// The seed's names: environment review/$CI_COMMIT_REF_SLUG of branch
// My_Branch gives review-my-branch.<domain> and review-my-branch-sigver.<domain>
// (its slug, review-my-branch-XXXXXX, is not what the seed had). Other
// environments, of which several may deploy one branch, keep their slug.
func TestHostnamesFromDefaultTemplates(t *testing.T) {
	h := Hostnames{Domain: "mute.example.org"}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	ref := slug.Ref("My_Branch")
	review := Names{EnvName: "review/" + ref, Env: slug.Environment("review/" + ref), Ref: ref}
	staging := Names{EnvName: "staging", Env: slug.Environment("staging"), Ref: ref}
	gitops := Names{EnvName: "review/web", Env: "review-web"} // no ref: a GitOps app
	for _, tc := range []struct {
		names   Names
		service string
		main    bool
		want    string
	}{
		{review, "app", true, "review-my-branch.mute.example.org"},
		{review, "sigver", false, "review-my-branch-sigver.mute.example.org"},
		{staging, "app", true, "staging.mute.example.org"},
		{staging, "sigver", false, "staging-sigver.mute.example.org"},
		{gitops, "app", true, "review-web.mute.example.org"},
	} {
		got, err := h.Host(tc.names, tc.service, tc.main)
		if err != nil || got != tc.want {
			t.Errorf("Host(%+v, %s, %v) = %q, %v; want %q", tc.names, tc.service, tc.main, got, err, tc.want)
		}
	}
}

// {ref_slug} in the operator's templates: filled with the ref's slug only.
func TestRefSlugPlaceholder(t *testing.T) {
	h := Hostnames{Domain: "example.org", Main: "{ref_slug}.app.{domain}", Service: "{service}.{ref_slug}.app.{domain}"}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	n := Names{EnvName: "prod", Env: "prod", Ref: slug.Ref("Feature/../../etc; rm -rf $HOME")}
	if got, err := h.Host(n, "sigver", false); err != nil || got != "sigver.feature-------etc--rm--rf--home.app.example.org" {
		t.Errorf("Host = %q, %v", got, err)
	}
	n.Ref = "Feature/x"
	if _, err := h.Host(n, "app", true); !errors.Is(err, ErrNotSlug) {
		t.Errorf("Host with a raw branch as ref slug: err = %v, want ErrNotSlug", err)
	}
	n.Ref = ""
	if _, err := h.Host(n, "app", true); err == nil || !strings.Contains(err.Error(), "{ref_slug} is empty") {
		t.Errorf("Host without a ref: err = %v, want one saying {ref_slug} is empty", err)
	}
}

// The hostile branch name: once slugged, the hostname and the route
// id hold nothing but a-z, 0-9, dashes and the domain's dots; unslugged, it
// is refused.
func TestHostileBranchYieldsSafeHostnameAndID(t *testing.T) {
	branch := "Feature/../../etc; rm -rf $HOME"
	h := Hostnames{Domain: "review.test"}
	for _, envSlug := range []string{slug.Environment("review/" + branch), "review-" + slug.Label(branch)} {
		host, err := h.Host(Names{Env: envSlug}, "sigver", false)
		if err != nil {
			t.Fatalf("Host(%q): %v", envSlug, err)
		}
		id, err := RouteID(envSlug, "sigver")
		if err != nil {
			t.Fatalf("RouteID(%q): %v", envSlug, err)
		}
		for _, s := range []string{strings.TrimSuffix(host, ".review.test"), id} {
			if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				t.Errorf("%q holds characters outside a-z0-9-", s)
			}
		}
		r := Route{ID: id, Hosts: []string{host}, Upstreams: []Upstream{{Addr: "127.0.0.1:8040"}}}
		if err := r.Validate(); err != nil {
			t.Errorf("route for the hostile branch: %v", err)
		}
		t.Logf("%q -> host %s, id %s", branch, host, id)
	}
	if _, err := h.Host(Names{Env: branch}, "app", true); !errors.Is(err, ErrNotSlug) {
		t.Errorf("Host of the raw branch name: err = %v, want ErrNotSlug", err)
	}
	if _, err := RouteID("review", "../etc"); !errors.Is(err, ErrNotSlug) {
		t.Errorf("RouteID with a raw service name: err = %v, want ErrNotSlug", err)
	}
}

func TestRouteIDsOfDistinctPairsDiffer(t *testing.T) {
	a, _ := RouteID("review-a", "b-c")
	b, _ := RouteID("review-a-b", "c")
	if a == b {
		t.Fatalf("RouteID(review-a, b-c) = RouteID(review-a-b, c) = %s", a)
	}
	env, svc, ok := ParseRouteID(a)
	if !ok || env != "review-a" || svc != "b-c" {
		t.Fatalf("ParseRouteID(%s) = %s, %s, %v", a, env, svc, ok)
	}
}

func TestHostnameLimits(t *testing.T) {
	long := strings.Repeat("a", 60)
	h := Hostnames{Domain: "review.test", Service: "{env_slug}-{service}.{domain}"}
	if _, err := h.Host(Names{Env: long}, "sigver", false); err == nil || !strings.Contains(err.Error(), "more than 63") {
		t.Errorf("a 67-byte label: err = %v, want one about 63", err)
	}
	domain := strings.TrimSuffix(strings.Repeat(strings.Repeat("d", 62)+".", 4), ".")
	if _, err := (Hostnames{Domain: domain}).Host(Names{Env: "review-x"}, "app", true); err == nil || !strings.Contains(err.Error(), "more than 253") {
		t.Errorf("a hostname over 253 bytes: err = %v, want one about 253", err)
	}
}

func TestTemplateErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		h    Hostnames
		want string
	}{
		{Hostnames{Domain: "x.test", Main: "{branch}.{domain}"}, "proxy.hostnames.main \"{branch}.{domain}\": unknown placeholder {branch} at column 1"},
		{Hostnames{Domain: "x.test", Service: "{env_slug}.{domain}"}, "proxy.hostnames.service \"{env_slug}.{domain}\": needs {service}"},
		{Hostnames{Domain: "x.test", Main: "app.{domain}"}, "proxy.hostnames.main \"app.{domain}\": needs {env_slug} or {ref_slug}"},
		{Hostnames{Domain: "x.test", Main: "{env_slug.{domain}"}, "unknown placeholder {env_slug.{domain}"},
		{Hostnames{Domain: "Example.COM"}, "proxy.domain: hostname \"Example.COM\""},
	} {
		err := tc.h.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want it to contain %q", tc.h, err, tc.want)
		}
	}
}

// Every bad template and the domain are reported at once, one line each.
func TestEveryBadTemplateIsReported(t *testing.T) {
	err := Hostnames{Domain: "Bad_Domain", Main: "{branch}.{domain}", Service: "{env_slug}.{domain}"}.Validate()
	if err == nil {
		t.Fatal("three bad values: no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "proxy.domain: ") ||
		!strings.HasPrefix(lines[1], "proxy.hostnames.main ") || !strings.HasPrefix(lines[2], "proxy.hostnames.service ") {
		t.Errorf("error = %q, want one line for the domain and each template", err)
	}
}

func TestRouteValidateNamesField(t *testing.T) {
	good := Route{ID: "slipway-review-x--app", Hosts: []string{"review-x.test"}, Upstreams: []Upstream{{Addr: "127.0.0.1:8040"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mut  func(*Route)
		want string
	}{
		{func(r *Route) { r.ID = "review-x" }, "route id \"review-x\""},
		{func(r *Route) { r.Hosts = []string{"ok.test", "bad_host.test"} }, "hosts[1]"},
		{func(r *Route) { r.Upstreams = nil }, "upstreams: none"},
		{func(r *Route) { r.Upstreams = []Upstream{{Addr: "127.0.0.1"}} }, "upstreams[0].addr \"127.0.0.1\""},
		{func(r *Route) { r.Upstreams = []Upstream{{Addr: "127.0.0.1:99999"}} }, "bad port"},
	} {
		r := good
		tc.mut(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestCaddyRouteRoundTrip(t *testing.T) {
	r := Route{ID: "slipway-review-x--app", Hosts: []string{"review-x.test"},
		Upstreams: []Upstream{{Addr: "127.0.0.1:8040"}, {Addr: "127.0.0.1:8041"}}}
	got, err := RoutesFromCaddy([]json.RawMessage{CaddyNotFound(), CaddyRoute(r, CaddyOptions{})})
	if err != nil || len(got) != 1 || got[0].ID != r.ID || len(got[0].Upstreams) != 2 || got[0].Hosts[0] != r.Hosts[0] {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, r)
	}
}
