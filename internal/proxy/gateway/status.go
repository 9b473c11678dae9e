package gateway

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Status is written only when it changes: every write comes back as a
// watch event and another pass, which must find nothing to write.

// setConditions sets conds on list with the object's generation;
// meta.SetStatusCondition keeps the transition time of an unchanged one.
func setConditions(list *[]metav1.Condition, gen int64, conds ...metav1.Condition) {
	for _, c := range conds {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(list, c)
	}
}

func (c *Controller) writeClassStatus(ctx context.Context, gc *gwv1.GatewayClass) error {
	next := gc.DeepCopy()
	setConditions(&next.Status.Conditions, gc.Generation,
		condition(string(gwv1.GatewayClassConditionStatusAccepted), true, string(gwv1.GatewayClassReasonAccepted), "Slipway's embedded proxy implements this class"))
	if equality.Semantic.DeepEqual(gc.Status, next.Status) {
		return nil
	}
	_, err := c.gw.GatewayV1().GatewayClasses().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("status of GatewayClass %s: %w", gc.Name, err)
	}
	return nil
}

func (c *Controller) writeGatewayStatus(ctx context.Context, g *gwv1.Gateway, attached map[gwv1.SectionName]int32) error {
	next := g.DeepCopy()
	setConditions(&next.Status.Conditions, g.Generation,
		condition(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "served by Slipway's embedded proxy"),
		condition(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), "the routes of its HTTP listeners are installed in the proxy"))
	next.Status.Addresses = nil
	if c.cfg.Address != "" {
		next.Status.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr(gwv1.IPAddressType), Value: c.cfg.Address}}
	}
	var listeners []gwv1.ListenerStatus
	for _, l := range g.Spec.Listeners {
		ls := gwv1.ListenerStatus{Name: l.Name, AttachedRoutes: attached[l.Name],
			SupportedKinds: []gwv1.RouteGroupKind{{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: "HTTPRoute"}}}
		for _, old := range g.Status.Listeners {
			if old.Name == l.Name {
				ls.Conditions = old.Conditions
			}
		}
		ok := l.Protocol == gwv1.HTTPProtocolType
		reason, programmed := string(gwv1.ListenerReasonAccepted), string(gwv1.ListenerReasonProgrammed)
		msg := ""
		if !ok {
			reason, programmed = string(gwv1.ListenerReasonUnsupportedProtocol), string(gwv1.ListenerReasonInvalid)
			msg = fmt.Sprintf("protocol %s: the Slipway proxy serves HTTP listeners only", l.Protocol)
			ls.SupportedKinds = nil
		}
		setConditions(&ls.Conditions, g.Generation,
			condition(string(gwv1.ListenerConditionAccepted), ok, reason, msg),
			condition(string(gwv1.ListenerConditionProgrammed), ok, programmed, msg),
			condition(string(gwv1.ListenerConditionResolvedRefs), true, string(gwv1.ListenerReasonResolvedRefs), ""))
		listeners = append(listeners, ls)
	}
	next.Status.Listeners = listeners
	if equality.Semantic.DeepEqual(g.Status, next.Status) {
		return nil
	}
	if _, err := c.gw.GatewayV1().Gateways(g.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of Gateway %s/%s: %w", g.Namespace, g.Name, err)
	}
	return nil
}

// writeRouteStatus sets the route's parents of this controller; the
// entries of other controllers stay as they are.
func (c *Controller) writeRouteStatus(ctx context.Context, p routePlan) error {
	hr := p.hr
	next := hr.DeepCopy()
	var parents []gwv1.RouteParentStatus
	for _, ps := range hr.Status.Parents {
		if string(ps.ControllerName) != c.cfg.ControllerName {
			parents = append(parents, ps)
		}
	}
	for _, pr := range p.parents {
		ps := gwv1.RouteParentStatus{ParentRef: pr.ref, ControllerName: gwv1.GatewayController(c.cfg.ControllerName)}
		for _, old := range hr.Status.Parents {
			if string(old.ControllerName) == c.cfg.ControllerName && equality.Semantic.DeepEqual(old.ParentRef, pr.ref) {
				ps.Conditions = old.Conditions
			}
		}
		accepted := pr.accepted
		if p.applyErr != nil && accepted.Status == metav1.ConditionTrue {
			accepted = cond(gwv1.RouteConditionAccepted, false, gwv1.RouteReasonUnsupportedValue, "the proxy refused the route: "+p.applyErr.Error())
		}
		setConditions(&ps.Conditions, hr.Generation, accepted, pr.resolved)
		parents = append(parents, ps)
	}
	next.Status.Parents = parents
	if equality.Semantic.DeepEqual(hr.Status, next.Status) {
		return nil
	}
	if _, err := c.gw.GatewayV1().HTTPRoutes(hr.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of HTTPRoute %s/%s: %w", hr.Namespace, hr.Name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
