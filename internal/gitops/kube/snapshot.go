package kube

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// listOwned reads the owner's objects of the kinds and namespaces of refs
// with one LIST per kind and namespace, where reading them one by one
// took a request per object. Kinds the API does not serve yet (those of
// CRDs of the same set) are left out: their objects are read one by one.
func (c *Cluster) listOwned(ctx context.Context, owner Owner, refs []Ref) map[Ref]*unstructured.Unstructured {
	type scope struct{ apiVersion, kind, namespace string }
	out := map[Ref]*unstructured.Unstructured{}
	listed := map[scope]bool{}
	for _, r := range refs {
		sc := scope{r.APIVersion, r.Kind, r.Namespace}
		if listed[sc] {
			continue
		}
		listed[sc] = true
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(schema.FromAPIVersionAndKind(r.APIVersion, r.Kind+"List"))
		opts := []client.ListOption{client.MatchingLabels(owner.labels())}
		if r.Namespace != "" {
			opts = append(opts, client.InNamespace(r.Namespace))
		}
		if err := c.Client.List(ctx, list, opts...); err != nil {
			continue
		}
		for i := range list.Items {
			u := &list.Items[i]
			u.SetAPIVersion(r.APIVersion)
			u.SetKind(r.Kind)
			out[refOf(u)] = u
		}
	}
	return out
}

// snapshotReader is the client the ssa engine reads the objects' current
// state with during one apply: each object listed before the apply is
// served once from the list, so an unchanged object costs one request
// (its dry run) instead of two; a second read of it (ssa waiting for a
// deletion) and an object not listed (not ours yet, or of a new kind) go
// to the API server.
type snapshotReader struct {
	client.Client
	mu   sync.Mutex
	objs map[Ref]*unstructured.Unstructured
}

func (s *snapshotReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		r := Ref{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: key.Namespace, Name: key.Name}
		s.mu.Lock()
		listed := s.objs[r]
		delete(s.objs, r)
		s.mu.Unlock()
		if listed != nil {
			u.Object = listed.Object
			return nil
		}
	}
	return s.Client.Get(ctx, key, obj, opts...)
}
