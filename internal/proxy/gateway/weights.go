package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// FieldManager is the field manager of Slipway's writes to HTTPRoutes.
const FieldManager = "slipway"

// SetWeights sets the weights of the backendRefs of the HTTPRoute
// namespace/name that name the Services in weights, in every rule that
// has them: the traffic split of a rollout, carried by whichever Gateway
// implementation serves the route. It writes spec.rules by server-side
// apply under FieldManager, forced (spec.rules is one atomic list, so
// Slipway then owns it) but conditional on the resourceVersion it read, so
// an edit made meanwhile is read again, never overwritten.
func SetWeights(ctx context.Context, c gwclient.Interface, namespace, name string, weights map[string]int32) error {
	for svc, w := range weights {
		if w < 0 || w > 1000000 {
			return fmt.Errorf("HTTPRoute %s/%s: weight of %s: %d, want 0 to 1000000", namespace, name, svc, w)
		}
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		hr, err := c.GatewayV1().HTTPRoutes(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("HTTPRoute %s/%s: %w", namespace, name, err)
		}
		rules := hr.Spec.DeepCopy().Rules
		seen := map[string]bool{}
		for i := range rules {
			for j := range rules[i].BackendRefs {
				ref := &rules[i].BackendRefs[j]
				if w, ok := weights[string(ref.Name)]; ok && (ref.Kind == nil || *ref.Kind == "Service") {
					ref.Weight = ptr(w)
					seen[string(ref.Name)] = true
				}
			}
		}
		var missing []string
		for svc := range weights {
			if !seen[svc] {
				missing = append(missing, svc)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("HTTPRoute %s/%s: no backendRef names Service %v", namespace, name, missing)
		}
		// The apply configuration has the JSON shape of the spec.
		raw, err := json.Marshal(rules)
		if err != nil {
			return err
		}
		var applyRules []*gwapply.HTTPRouteRuleApplyConfiguration
		if err := json.Unmarshal(raw, &applyRules); err != nil {
			return err
		}
		ac := gwapply.HTTPRoute(name, namespace).
			WithResourceVersion(hr.ResourceVersion).
			WithSpec(gwapply.HTTPRouteSpec().WithRules(applyRules...))
		_, err = c.GatewayV1().HTTPRoutes(namespace).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		return err
	})
}
