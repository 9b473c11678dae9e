package gateway

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Backends is what the translation reads of the cluster's Services.
type Backends interface {
	// Service returns the Service, nil when there is none.
	Service(namespace, name string) *corev1.Service
	// EndpointSlices returns the EndpointSlices of the Service.
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
}

// refProblem is why a backendRef resolves to nothing: the reason of the
// route's ResolvedRefs=False, and its message.
type refProblem struct {
	reason  gwv1.RouteConditionReason
	message string
}

// Translate turns the rules of an HTTPRoute attached to the proxy under
// hosts into proxy routes: one per match of each rule (matches of a rule
// are alternatives), its upstreams the ready endpoint addresses of the
// rule's backend Services, each backendRef's weight shared among its
// endpoints. Versions are the backend Services' names, so the per-version
// stats of a canary are its Service's. The problem, if any, is the first
// backendRef that resolved to nothing; its rule keeps the other backends.
func Translate(hr *gwv1.HTTPRoute, hosts []string, b Backends) ([]proxy.Route, *refProblem) {
	var out []proxy.Route
	var problem *refProblem
	base := slug.Label("gw-" + hr.Namespace + "-" + hr.Name)
	for i, rule := range hr.Spec.Rules {
		ups, p := upstreams(hr.Namespace, rule.BackendRefs, b)
		if problem == nil {
			problem = p
		}
		if len(ups) == 0 {
			continue // no endpoint: the requests fall through to the next route
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.HTTPRouteMatch{{}}
		}
		for j, m := range matches {
			out = append(out, proxy.Route{
				ID:        proxy.IDPrefix + base + "--r" + strconv.Itoa(i) + "m" + strconv.Itoa(j),
				Hosts:     hosts,
				Upstreams: ups,
				Match:     match(m),
			})
		}
	}
	return out, problem
}

// match is the proxy's form of an HTTPRoute match. Query parameter and
// method matches are not supported (Accepted says so, see unsupported).
func match(m gwv1.HTTPRouteMatch) *proxy.Match {
	pm := &proxy.Match{}
	if m.Path != nil && m.Path.Value != nil {
		pm.Path = *m.Path.Value
		pm.PathPrefix = m.Path.Type == nil || *m.Path.Type == gwv1.PathMatchPathPrefix
	}
	for _, h := range m.Headers {
		pm.Headers = append(pm.Headers, proxy.HeaderMatch{
			Name:  string(h.Name),
			Value: h.Value,
			Regex: h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression,
		})
	}
	if pm.IsZero() {
		return nil
	}
	return pm
}

// unsupported names the first part of the route the proxy cannot do, ""
// when it can do all.
func unsupported(hr *gwv1.HTTPRoute) string {
	for i, rule := range hr.Spec.Rules {
		for j, m := range rule.Matches {
			at := fmt.Sprintf("spec.rules[%d].matches[%d]", i, j)
			switch {
			case len(m.QueryParams) > 0:
				return at + ".queryParams"
			case m.Method != nil:
				return at + ".method"
			case m.Path != nil && m.Path.Type != nil && *m.Path.Type == gwv1.PathMatchRegularExpression:
				return at + ".path.type RegularExpression"
			}
			if err := match(m).Validate(); err != nil {
				return at + ": " + err.Error()
			}
		}
		if len(rule.Filters) > 0 {
			return fmt.Sprintf("spec.rules[%d].filters", i)
		}
		for j, br := range rule.BackendRefs {
			if len(br.Filters) > 0 {
				return fmt.Sprintf("spec.rules[%d].backendRefs[%d].filters", i, j)
			}
		}
	}
	return ""
}

func upstreams(ns string, refs []gwv1.HTTPBackendRef, b Backends) ([]proxy.Upstream, *refProblem) {
	var ups []proxy.Upstream
	var problem *refProblem
	total := 0
	for _, r := range refs {
		total += int(weightOf(r))
	}
	for i, r := range refs {
		addrs, p := resolve(ns, r.BackendRef, b)
		if p != nil {
			p.message = fmt.Sprintf("backendRefs[%d]: %s", i, p.message)
			if problem == nil {
				problem = p
			}
			continue
		}
		w := int(weightOf(r))
		if w == 0 || len(addrs) == 0 {
			continue
		}
		// The proxy picks an endpoint, not a backend: a backend's share,
		// scaled to MaxWeight in all, is spread over its endpoints, so
		// 90/10 stays 90/10 whatever their counts.
		each := max(1, w*proxy.MaxWeight/total/len(addrs))
		for _, a := range addrs {
			ups = append(ups, proxy.Upstream{Addr: a, Weight: each, Version: string(r.Name)})
		}
	}
	return ups, problem
}

func weightOf(r gwv1.HTTPBackendRef) int32 {
	if r.Weight == nil {
		return 1
	}
	return *r.Weight
}

// resolve returns the ready addresses (ip:port) of a backendRef.
func resolve(ns string, ref gwv1.BackendRef, b Backends) ([]string, *refProblem) {
	if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Service" {
		return nil, &refProblem{gwv1.RouteReasonInvalidKind, "only core Services are supported"}
	}
	if ref.Namespace != nil && string(*ref.Namespace) != ns {
		return nil, &refProblem{gwv1.RouteReasonRefNotPermitted, "a Service of another namespace (ReferenceGrants are not supported)"}
	}
	if ref.Port == nil {
		return nil, &refProblem{gwv1.RouteReasonUnsupportedValue, "port: required for a Service"}
	}
	svc := b.Service(ns, string(ref.Name))
	if svc == nil {
		return nil, &refProblem{gwv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s not found", ns, ref.Name)}
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == int32(*ref.Port) {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return nil, &refProblem{gwv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s has no port %d", ns, ref.Name, *ref.Port)}
	}
	var addrs []string
	for _, es := range b.EndpointSlices(ns, svc.Name) {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := int32(0)
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	return addrs, nil
}
