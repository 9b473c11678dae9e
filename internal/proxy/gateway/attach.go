package gateway

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// routePlan is what a pass decided for one HTTPRoute: the proxy routes of
// the parents that accepted it, and each such parent's conditions.
type routePlan struct {
	hr       *gwv1.HTTPRoute
	parents  []parentResult
	routes   []proxy.Route
	applyErr error // the proxy refused a route (e.g. a host another route has)
}

type parentResult struct {
	ref      gwv1.ParentReference
	accepted metav1.Condition
	resolved metav1.Condition
}

// plan attaches the route to the Gateways of its parentRefs that are ours
// and translates its rules; attached counts the routes of each listener.
func (c *Controller) plan(hr *gwv1.HTTPRoute, gateways map[string]*gwv1.Gateway, attached map[string]map[gwv1.SectionName]int32) routePlan {
	p := routePlan{hr: hr}
	for _, ref := range hr.Spec.ParentRefs {
		if ref.Group != nil && *ref.Group != gwv1.GroupName || ref.Kind != nil && *ref.Kind != "Gateway" {
			continue
		}
		ns := hr.Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		key := ns + "/" + string(ref.Name)
		g := gateways[key]
		if g == nil {
			continue // another implementation's Gateway, or none: not ours to say
		}
		res := parentResult{ref: ref}
		hosts, listeners, reason, msg := attach(g, ref, hr)
		if reason != gwv1.RouteReasonAccepted {
			res.accepted = cond(gwv1.RouteConditionAccepted, false, reason, msg)
			res.resolved = cond(gwv1.RouteConditionResolvedRefs, true, gwv1.RouteReasonResolvedRefs, "")
			p.parents = append(p.parents, res)
			continue
		}
		if attached[key] == nil {
			attached[key] = map[gwv1.SectionName]int32{}
		}
		for _, l := range listeners {
			attached[key][l]++
		}
		if part := unsupported(hr); part != "" {
			res.accepted = cond(gwv1.RouteConditionAccepted, false, gwv1.RouteReasonUnsupportedValue,
				part+": the Slipway proxy does not support it")
			res.resolved = cond(gwv1.RouteConditionResolvedRefs, true, gwv1.RouteReasonResolvedRefs, "")
			p.parents = append(p.parents, res)
			continue
		}
		routes, problem := Translate(hr, hosts, c)
		p.routes = append(p.routes, routes...)
		res.accepted = cond(gwv1.RouteConditionAccepted, true, gwv1.RouteReasonAccepted, "")
		if problem != nil {
			res.resolved = cond(gwv1.RouteConditionResolvedRefs, false, problem.reason, problem.message)
		} else {
			res.resolved = cond(gwv1.RouteConditionResolvedRefs, true, gwv1.RouteReasonResolvedRefs, "")
		}
		p.parents = append(p.parents, res)
	}
	return p
}

// attach picks the listeners of g the route may attach to through ref and
// the hostnames it gets there; reason says why it may not.
func attach(g *gwv1.Gateway, ref gwv1.ParentReference, hr *gwv1.HTTPRoute) (hosts []string, listeners []gwv1.SectionName, reason gwv1.RouteConditionReason, msg string) {
	allowed := false
	for _, l := range g.Spec.Listeners {
		if ref.SectionName != nil && *ref.SectionName != l.Name || ref.Port != nil && *ref.Port != l.Port {
			continue
		}
		if l.Protocol != gwv1.HTTPProtocolType || !allows(l, g.Namespace, hr.Namespace) {
			continue
		}
		allowed = true
		hs := hostnames(l.Hostname, hr.Spec.Hostnames)
		if len(hs) == 0 {
			continue
		}
		listeners = append(listeners, l.Name)
		for _, h := range hs {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	switch {
	case !allowed:
		return nil, nil, gwv1.RouteReasonNotAllowedByListeners, "no HTTP listener of the Gateway allows this route"
	case len(hosts) == 0 && len(hr.Spec.Hostnames) == 0:
		return nil, nil, gwv1.RouteReasonUnsupportedValue, "spec.hostnames: the Slipway proxy routes exact hostnames only; name them on the route or on the listener"
	case len(hosts) == 0:
		return nil, nil, gwv1.RouteReasonNoMatchingListenerHostname, "no hostname of the route matches a listener's hostname"
	}
	return hosts, listeners, gwv1.RouteReasonAccepted, ""
}

// allows reports whether the listener takes HTTPRoutes of namespace ns.
// Namespace selectors are not supported: such a listener takes only its
// own namespace's routes.
func allows(l gwv1.Listener, gwNS, ns string) bool {
	if ar := l.AllowedRoutes; ar != nil {
		if len(ar.Kinds) > 0 {
			ok := false
			for _, k := range ar.Kinds {
				ok = ok || k.Kind == "HTTPRoute" && (k.Group == nil || *k.Group == gwv1.GroupName)
			}
			if !ok {
				return false
			}
		}
		if ar.Namespaces != nil && ar.Namespaces.From != nil && *ar.Namespaces.From == gwv1.NamespacesFromAll {
			return true
		}
	}
	return ns == gwNS
}

// hostnames are the exact hostnames of the route under the listener's:
// the route's that the listener's (exact or *.suffix) matches, or the
// listener's own when the route names none. Wildcards that remain are
// dropped: the proxy matches exact hostnames.
func hostnames(listener *gwv1.Hostname, route []gwv1.Hostname) []string {
	var out []string
	if len(route) == 0 {
		if listener != nil && !strings.HasPrefix(string(*listener), "*") {
			out = append(out, string(*listener))
		}
		return out
	}
	for _, h := range route {
		s := string(h)
		if strings.HasPrefix(s, "*") {
			continue
		}
		if listener == nil || s == string(*listener) ||
			strings.HasPrefix(string(*listener), "*.") && strings.HasSuffix(s, string(*listener)[1:]) {
			out = append(out, s)
		}
	}
	return out
}

func cond(typ gwv1.RouteConditionType, ok bool, reason gwv1.RouteConditionReason, msg string) metav1.Condition {
	return condition(string(typ), ok, string(reason), msg)
}

func condition(typ string, ok bool, reason, msg string) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	if msg == "" {
		msg = fmt.Sprintf("%s: %s", typ, reason)
	}
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg}
}
