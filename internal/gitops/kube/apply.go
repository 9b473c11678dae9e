package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Ref identifies an applied object; a deployment's inventory is a list of
// them.
type Ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// String is Kind/namespace/name, as Flux prints objects.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// key identifies the object whatever the version of its API.
func (r Ref) key() string {
	group, _, _ := strings.Cut(r.APIVersion, "/")
	if !strings.Contains(r.APIVersion, "/") {
		group = ""
	}
	return group + "/" + r.String()
}

func refOf(u *unstructured.Unstructured) Ref {
	return Ref{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

func (r Ref) unstructured() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	u.SetNamespace(r.Namespace)
	u.SetName(r.Name)
	return u
}

// ObjectStatus is what a pass did to an object and how it is doing.
type ObjectStatus struct {
	Ref
	// Action is created, configured, unchanged or deleted.
	Action string `json:"action,omitempty"`
	// Health is kstatus' verdict: Current, InProgress, Failed, NotFound...
	Health  string `json:"health,omitempty"`
	Message string `json:"message,omitempty"`
	// Hook is the phase of a hook (PreSync, Sync, PostSync), "" for an
	// object the deployment keeps.
	Hook string `json:"hook,omitempty"`
	// ChartVersion is the chart a Helm release runs.
	ChartVersion string `json:"chart_version,omitempty"`
}

// Owner says whose objects these are: it becomes their labels.
type Owner struct {
	Installation, Deployment string
}

func (o Owner) labels() map[string]string {
	return map[string]string{LabelInstallation: o.Installation, LabelDeployment: o.Deployment}
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Timeout bounds the wait for CRDs and namespaces to be established
	// and, with Wait, for every object to be healthy.
	Timeout time.Duration
	// Wait waits until every object is healthy (kstatus Current).
	Wait bool
}

// Apply makes the cluster hold objects as given, in Flux's order (CRDs,
// namespaces and cluster roles first, then classes, then the rest): every
// object is dry-run first and nothing of a stage is written when one of it
// fails, so a broken commit leaves what runs alone. Only objects that
// differ from the cluster's are written: a pass over an unchanged set
// writes nothing, and an object changed by hand is put back.
func (c *Cluster) Apply(ctx context.Context, owner Owner, objects []*unstructured.Unstructured, opts ApplyOptions) ([]ObjectStatus, error) {
	if owner.Installation == "" || owner.Deployment == "" {
		return nil, errors.New("kubernetes: apply needs the installation and the deployment")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if err := c.prepare(objects, owner); err != nil {
		return nil, err
	}
	aopts := ssa.DefaultApplyOptions()
	aopts.WaitTimeout = opts.Timeout
	aopts.WaitInterval = 500 * time.Millisecond
	sort.Sort(ssa.SortableUnstructureds(objects))
	listed := c.listOwned(ctx, owner, refsOf(objects))
	known := c.verified.get(owner)
	checks := map[string]check{} // by key
	var toApply []*unstructured.Unstructured
	var skipped []ssa.ChangeSetEntry
	// fresh are the skipped objects as this pass read them: their health
	// comes from that read, with no other.
	fresh := map[Ref]*unstructured.Unstructured{}
	for _, o := range objects {
		r := refOf(o)
		ck := check{desired: digest(o)}
		if l := listed[r]; l != nil {
			ck.resourceVersion = l.GetResourceVersion()
		}
		checks[r.key()] = ck
		if ck.resourceVersion != "" && known[r] == ck {
			skipped = append(skipped, ssa.ChangeSetEntry{ObjMetadata: object.UnstructuredToObjMetadata(o),
				GroupVersion: o.GroupVersionKind().Version, Subject: utils.FmtUnstructured(o), Action: ssa.UnchangedAction})
			fresh[r] = listed[r]
			continue
		}
		toApply = append(toApply, o)
	}
	manager := c.manager(&snapshotReader{Client: c.Client, objs: listed})
	cs, err := manager.ApplyAllStaged(ctx, toApply, aopts)
	if err != nil {
		c.verified.update(owner, refsOf(objects), nil)
		return nil, err
	}
	wait := cs.ToObjMetadataSet()
	cs.Append(skipped)
	actions := map[string]string{}
	for _, e := range cs.Entries {
		actions[refFromMeta(e.ObjMetadata).key()] = string(e.Action)
	}
	var out []ObjectStatus
	now := map[Ref]check{}
	for _, o := range objects {
		r := refOf(o)
		out = append(out, ObjectStatus{Ref: r, Action: actions[r.key()]})
		// Only an object found as git asks is verified: the version of
		// one just written is not known without reading it again, and
		// a change made meanwhile would then pass for ours.
		if ck := checks[r.key()]; ck.resourceVersion != "" && actions[r.key()] == string(ssa.UnchangedAction) {
			now[r] = ck
		}
	}
	c.verified.update(owner, refsOf(objects), now)
	for i, o := range out {
		if u := fresh[o.Ref]; u != nil {
			out[i].Health, out[i].Message = health(u)
		}
	}
	var werr error
	if opts.Wait {
		// The objects skipped are waited on only when their health, as
		// read, is not Current yet.
		for i, o := range out {
			if fresh[o.Ref] != nil && o.Health != string(status.CurrentStatus) {
				wait = append(wait, object.UnstructuredToObjMetadata(fresh[o.Ref]))
				out[i].Health, out[i].Message = "", ""
			}
		}
		if len(wait) > 0 {
			werr = manager.WaitForSetWithContext(ctx, wait, ssa.WaitOptions{
				Interval: 500 * time.Millisecond, Timeout: opts.Timeout, FailFast: true,
				JobsWithTTL: utils.ExtractJobsWithTTL(objects),
			})
		}
	}
	c.health(ctx, owner, out)
	if werr != nil {
		return out, &HealthError{werr}
	}
	return out, nil
}

func refFromMeta(m object.ObjMetadata) Ref {
	gv := schema.GroupVersion{Group: m.GroupKind.Group}
	return Ref{APIVersion: gv.String(), Kind: m.GroupKind.Kind, Namespace: m.Namespace, Name: m.Name}
}

// Prepare labels the objects and gives namespaced ones without a
// namespace the target's default, as Apply does first: their refs are then
// those Apply writes (an inventory taken before a failed apply must name
// them so).
func (c *Cluster) Prepare(objects []*unstructured.Unstructured, owner Owner) error {
	return c.prepare(objects, owner)
}

func (c *Cluster) prepare(objects []*unstructured.Unstructured, owner Owner) error {
	// Kinds defined by CRDs of the same set are not known to the API yet.
	crdScopes := map[schema.GroupKind]string{}
	for _, o := range objects {
		if utils.IsCRD(o) {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			crdScopes[schema.GroupKind{Group: group, Kind: kind}] = scope
		}
	}
	for _, o := range objects {
		utils.SetCommonMetadata([]*unstructured.Unstructured{o}, owner.labels(), nil)
		gvk := o.GroupVersionKind()
		namespaced := false
		mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		switch {
		case err == nil:
			namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
		case meta.IsNoMatchError(err) && crdScopes[gvk.GroupKind()] != "":
			namespaced = crdScopes[gvk.GroupKind()] == "Namespaced"
		case meta.IsNoMatchError(err):
			return fmt.Errorf("%s: the cluster has no kind %s in %s (a CRD missing?)", refOf(o), gvk.Kind, gvk.GroupVersion())
		default:
			return fmt.Errorf("%s: %w", refOf(o), err)
		}
		switch {
		case namespaced && o.GetNamespace() == "":
			o.SetNamespace(c.namespace)
		case !namespaced && o.GetNamespace() != "":
			return fmt.Errorf("%s: %s is cluster-scoped: it takes no namespace", refOf(o), gvk.Kind)
		}
	}
	return nil
}

// health fills in the kstatus of the objects that have none yet, reading
// them a kind and namespace at a time.
func (c *Cluster) health(ctx context.Context, owner Owner, objs []ObjectStatus) {
	var refs []Ref
	for _, o := range objs {
		if o.Health == "" {
			refs = append(refs, o.Ref)
		}
	}
	if len(refs) == 0 {
		return
	}
	listed := c.listOwned(ctx, owner, refs)
	for i := range objs {
		if objs[i].Health != "" {
			continue
		}
		u := listed[objs[i].Ref]
		if u == nil {
			u = &unstructured.Unstructured{}
			u.SetGroupVersionKind(schema.FromAPIVersionAndKind(objs[i].APIVersion, objs[i].Kind))
			err := c.Client.Get(ctx, client.ObjectKey{Namespace: objs[i].Namespace, Name: objs[i].Name}, u)
			switch {
			case apierrors.IsNotFound(err):
				objs[i].Health, objs[i].Message = string(status.NotFoundStatus), ""
				continue
			case err != nil:
				objs[i].Health, objs[i].Message = string(status.UnknownStatus), err.Error()
				continue
			}
		}
		objs[i].Health, objs[i].Message = health(u)
	}
}

// health is an object's kstatus and its message.
func health(u *unstructured.Unstructured) (string, string) {
	res, err := computeStatus(u)
	if err != nil {
		return string(status.UnknownStatus), err.Error()
	}
	return string(res.Status), res.Message
}

// Prune deletes the objects of stale that are still labelled as the
// owner's: one another installation or deployment took over is left
// alone (and reported skipped).
func (c *Cluster) Prune(ctx context.Context, owner Owner, stale []Ref) ([]ObjectStatus, error) {
	if owner.Installation == "" || owner.Deployment == "" {
		return nil, errors.New("kubernetes: prune needs the installation and the deployment")
	}
	var objs []*unstructured.Unstructured
	for _, r := range stale {
		objs = append(objs, r.unstructured())
	}
	opts := ssa.DefaultDeleteOptions()
	opts.Inclusions = owner.labels()
	cs, err := c.manager(c.Client).DeleteAll(ctx, objs, opts)
	var out []ObjectStatus
	if cs != nil {
		for _, e := range cs.Entries {
			out = append(out, ObjectStatus{Ref: refFromMeta(e.ObjMetadata), Action: string(e.Action)})
		}
	}
	// The change set knows no versions: give them back for the status.
	for i := range out {
		for _, r := range stale {
			if r.key() == out[i].key() {
				out[i].APIVersion = r.APIVersion
			}
		}
	}
	return out, err
}

// Stale returns the refs of old that new lacks.
func Stale(old, new []Ref) []Ref {
	have := make(map[string]bool, len(new))
	for _, n := range new {
		have[n.key()] = true
	}
	var out []Ref
	for _, o := range old {
		if !have[o.key()] {
			out = append(out, o)
		}
	}
	return out
}

func refsOf(objects []*unstructured.Unstructured) []Ref {
	out := make([]Ref, len(objects))
	for i, o := range objects {
		out[i] = refOf(o)
	}
	return out
}

// ErrNotFound is returned by Data for a missing object.
var ErrNotFound = errors.New("not found")

// Data returns the keys of a ConfigMap or Secret of the target's
// namespace (a Secret's decoded).
func (c *Cluster) Data(ctx context.Context, kind, name string) (map[string]string, error) {
	key := client.ObjectKey{Namespace: c.namespace, Name: name}
	out := map[string]string{}
	var err error
	switch kind {
	case "ConfigMap":
		var cm corev1.ConfigMap
		if err = c.Client.Get(ctx, key, &cm); err == nil {
			maps.Copy(out, cm.Data)
		}
	case "Secret":
		var s corev1.Secret
		if err = c.Client.Get(ctx, key, &s); err == nil {
			for k, v := range s.Data {
				out[k] = string(v)
			}
		}
	default:
		return nil, fmt.Errorf("%s/%s: want a ConfigMap or a Secret", kind, name)
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, c.namespace, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, c.namespace, name, err)
	}
	return out, nil
}
