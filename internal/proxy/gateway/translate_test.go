package gateway

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// backends is a cluster of Services and their EndpointSlices.
type backends map[string][]*discoveryv1.EndpointSlice

func (b backends) Service(ns, name string) *corev1.Service {
	if _, ok := b[name]; !ok {
		return nil
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func (b backends) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice { return b[svc] }

// slice is an EndpointSlice with a ready endpoint per ready address and
// an unready one per other.
func slice(ready []string, unready ...string) *discoveryv1.EndpointSlice {
	name, port, yes, no := "http", int32(8080), true, false
	es := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}}
	for _, a := range ready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}})
	}
	for _, a := range unready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &no}})
	}
	return es
}

func route(t *testing.T, spec string) *gwv1.HTTPRoute {
	t.Helper()
	hr := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"}}
	if err := yaml.UnmarshalStrict([]byte(spec), &hr.Spec); err != nil {
		t.Fatal(err)
	}
	return hr
}

// A backend's weight is its share whatever its endpoint count: 90/10 over
// 2 and 1 ready pods is 450+450 against 100; unready pods get nothing.
func TestTranslateSpreadsWeightsOverReadyEndpoints(t *testing.T) {
	b := backends{
		"v1": {slice([]string{"10.0.0.1", "10.0.0.2"}, "10.0.0.9")},
		"v2": {slice([]string{"10.0.0.3"})},
	}
	hr := route(t, `
rules:
- matches: [{path: {type: Exact, value: /health}}]
  backendRefs: [{name: v1, port: 80}]
- backendRefs: [{name: v1, port: 80, weight: 90}, {name: v2, port: 80, weight: 10}]
`)
	routes, problem := Translate(hr, []string{"shop.test"}, b)
	if problem != nil || len(routes) != 2 {
		t.Fatalf("routes %+v, problem %+v", routes, problem)
	}
	if m := routes[0].Match; m == nil || m.Path != "/health" || m.PathPrefix {
		t.Errorf("rule 0 match %+v, want exactly /health", m)
	}
	weights := map[string]int{}
	for _, u := range routes[1].Upstreams {
		weights[u.Version] += u.Weight
		if u.Addr == "10.0.0.9:8080" {
			t.Errorf("the unready endpoint is an upstream")
		}
	}
	if len(routes[1].Upstreams) != 3 || weights["v1"] != 900 || weights["v2"] != 100 {
		t.Errorf("upstreams %+v, want v1's 2 pods at 900 in all and v2's at 100", routes[1].Upstreams)
	}
	if routes[1].Match != nil || !strings.HasPrefix(routes[1].ID, "slipway-gw-shop-app--r1") {
		t.Errorf("rule 1 = %+v", routes[1])
	}
	for _, rt := range routes {
		if err := rt.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestTranslateNamesTheRefItCannotResolve(t *testing.T) {
	b := backends{"v1": {slice([]string{"10.0.0.1"})}}
	for spec, want := range map[string]string{
		`rules: [{backendRefs: [{name: v1, port: 80}, {name: gone, port: 80}]}]`:           "backendRefs[1]: Service shop/gone not found",
		`rules: [{backendRefs: [{name: v1, port: 81}]}]`:                                   "Service shop/v1 has no port 81",
		`rules: [{backendRefs: [{name: v1, port: 80, namespace: other}]}]`:                 "another namespace",
		`rules: [{backendRefs: [{name: v1, port: 80, kind: Bucket, group: example.com}]}]`: "only core Services",
	} {
		routes, problem := Translate(route(t, spec), []string{"shop.test"}, b)
		if problem == nil || !strings.Contains(problem.message, want) {
			t.Errorf("%s: problem %+v, want %q", spec, problem, want)
		}
		if strings.Contains(spec, "gone") && (len(routes) != 1 || len(routes[0].Upstreams) != 1) {
			t.Errorf("%s: routes %+v, want the resolved backend to serve on", spec, routes)
		}
	}
}

func TestUnsupportedNamesTheField(t *testing.T) {
	for spec, want := range map[string]string{
		`rules: [{matches: [{queryParams: [{name: a, value: b}]}], backendRefs: [{name: v1, port: 80}]}]`: "spec.rules[0].matches[0].queryParams",
		`rules: [{matches: [{method: POST}], backendRefs: [{name: v1, port: 80}]}]`:                       "spec.rules[0].matches[0].method",
		`rules: [{filters: [{type: RequestHeaderModifier}], backendRefs: [{name: v1, port: 80}]}]`:        "spec.rules[0].filters",
		`rules: [{matches: [{headers: [{type: RegularExpression, name: Cookie, value: "("}]}]}]`:          "spec.rules[0].matches[0]: match.headers[0].value",
	} {
		if got := unsupported(route(t, spec)); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", spec, got, want)
		}
	}
	if got := unsupported(route(t, `rules: [{matches: [{headers: [{name: X-Variant, value: b}]}], backendRefs: [{name: v1, port: 80}]}]`)); got != "" {
		t.Errorf("a header match: %q, want supported", got)
	}
}

func TestHostnamesUnderListener(t *testing.T) {
	wild, exact := gwv1.Hostname("*.shop.test"), gwv1.Hostname("a.shop.test")
	for _, tc := range []struct {
		listener *gwv1.Hostname
		route    []gwv1.Hostname
		want     string
	}{
		{nil, []gwv1.Hostname{"a.shop.test", "*.x.test"}, "a.shop.test"},
		{&wild, []gwv1.Hostname{"a.shop.test", "b.other.test"}, "a.shop.test"},
		{&exact, nil, "a.shop.test"},
		{&wild, nil, ""},
		{&exact, []gwv1.Hostname{"b.shop.test"}, ""},
	} {
		if got := strings.Join(hostnames(tc.listener, tc.route), ","); got != tc.want {
			t.Errorf("listener %v, route %v: %q, want %q", tc.listener, tc.route, got, tc.want)
		}
	}
}
