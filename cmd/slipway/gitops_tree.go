package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// printTree prints a Kubernetes deployment as a tree: the deployment with
// its condition, applied revision and last error, then each object
// (Kind/namespace/name) with what the last pass did to it and its health
// (kstatus), hooks and Helm releases' chart versions marked.
func printTree(w io.Writer, d gitops.DeploymentStatus) {
	fmt.Fprintf(w, "deployment %s: %s (%s) at %.12s", d.Name, d.Condition, d.Reason, d.ObservedRevision)
	if d.Condition != gitops.Stalled && d.Message != "" {
		fmt.Fprintf(w, ": %s", d.Message)
	}
	fmt.Fprintln(w)
	applied := "none yet"
	if d.AppliedRevision != "" {
		applied = fmt.Sprintf("%.12s", d.AppliedRevision)
	}
	fmt.Fprintf(w, "  applied: %s\n", applied)
	if d.Suspended {
		fmt.Fprintln(w, "  suspended: neither applied nor pruned until resumed")
	}
	if d.Condition == gitops.Stalled {
		fmt.Fprintf(w, "  last error: %s\n", d.Message)
	}
	for i, o := range d.Objects {
		branch := "├─"
		if i == len(d.Objects)-1 {
			branch = "└─"
		}
		fmt.Fprintf(w, "  %s %s", branch, o.Ref)
		if o.Hook != "" {
			fmt.Fprintf(w, " (%s hook)", o.Hook)
		}
		if o.ChartVersion != "" && !strings.Contains(o.Message, "chart "+o.ChartVersion) {
			fmt.Fprintf(w, " chart %s", o.ChartVersion)
		}
		fmt.Fprintf(w, ": %s", o.Action)
		if o.Health != "" {
			fmt.Fprintf(w, ", %s", o.Health)
		}
		if o.Message != "" {
			fmt.Fprintf(w, ": %s", o.Message)
		}
		fmt.Fprintln(w)
	}
}
