package kube

import (
	"context"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Diff tells what Apply would do to each object, writing nothing: a
// server-side dry-run apply of each, compared with the cluster's copy
// (Flux's ssa Diff). Action is created, configured or unchanged; an object
// the API refuses gets Action "invalid" and the API's message, and the
// others are still compared. Prepare the objects first, as Apply does.
func (c *Cluster) Diff(ctx context.Context, objects []*unstructured.Unstructured) []ObjectStatus {
	opts := ssa.DefaultDiffOptions()
	var out []ObjectStatus
	for _, o := range objects {
		st := ObjectStatus{Ref: refOf(o)}
		entry, _, _, err := c.manager(c.Client).Diff(ctx, o.DeepCopy(), opts)
		switch {
		case err != nil:
			st.Action, st.Message = "invalid", err.Error()
		case entry.Action == ssa.SkippedAction:
			st.Action, st.Message = "unchanged", "skipped (reconcile disabled on the object)"
		default:
			st.Action = string(entry.Action)
		}
		out = append(out, st)
	}
	return out
}
