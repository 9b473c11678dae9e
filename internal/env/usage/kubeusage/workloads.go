package kubeusage

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-cd/slipway/internal/env/usage"
)

// Workload names an object that runs pods: a Deployment, StatefulSet,
// DaemonSet, ReplicaSet or Job.
type Workload struct {
	Kind, Namespace, Name string
}

// Runs tells whether objects of this kind run pods PodSets can select.
func Runs(kind string) bool {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return true
	}
	return false
}

// PodSets are the pods of each workload, by its selector, named after it.
// A workload that no longer exists is left out (pruned meanwhile).
func (r *Reader) PodSets(ctx context.Context, workloads []Workload) ([]usage.PodSet, error) {
	var out []usage.PodSet
	for _, w := range workloads {
		sel, err := r.selector(ctx, w)
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("%s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: selector: %w", w.Kind, w.Namespace, w.Name, err)
		}
		if s.Empty() {
			continue // selects every pod of the namespace: not this workload's
		}
		out = append(out, usage.PodSet{Namespace: w.Namespace, Selector: s.String(), Service: w.Name})
	}
	return out, nil
}

func (r *Reader) selector(ctx context.Context, w Workload) (*metav1.LabelSelector, error) {
	get := metav1.GetOptions{}
	switch w.Kind {
	case "Deployment":
		o, err := r.Client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, get)
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "StatefulSet":
		o, err := r.Client.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, get)
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "DaemonSet":
		o, err := r.Client.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, get)
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "ReplicaSet":
		o, err := r.Client.AppsV1().ReplicaSets(w.Namespace).Get(ctx, w.Name, get)
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "Job":
		o, err := r.Client.BatchV1().Jobs(w.Namespace).Get(ctx, w.Name, get)
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	}
	return nil, fmt.Errorf("kind %s runs no pods", w.Kind)
}
