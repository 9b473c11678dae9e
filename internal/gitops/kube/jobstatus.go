package kube

import (
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/statusreaders"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var jobKind = schema.GroupKind{Group: "batch", Kind: "Job"}

// computeStatus is kstatus' verdict, except that a Job is healthy only
// once it completed: kstatus calls a started Job Current, so a wave or a
// hook would not wait for it (Flux and Argo CD both wait).
func computeStatus(u *unstructured.Unstructured) (*status.Result, error) {
	res, err := status.Compute(u)
	if err != nil || res.Status != status.CurrentStatus || u.GroupVersionKind().GroupKind() != jobKind {
		return res, err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Complete" && m["status"] == "True" {
			return res, nil
		}
	}
	return &status.Result{Status: status.InProgressStatus, Message: "Job running: " + res.Message}, nil
}

// jobStatusReader gives the poller computeStatus for Jobs.
type jobStatusReader struct{ engine.StatusReader }

func newJobStatusReader(mapper meta.RESTMapper) engine.StatusReader {
	return jobStatusReader{statusreaders.NewGenericStatusReader(mapper, computeStatus)}
}

func (jobStatusReader) Supports(gk schema.GroupKind) bool { return gk == jobKind }
