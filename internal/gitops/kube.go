package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/gitops/render"
)

// Targets of a deployment, in its status.
const (
	TargetDocker     = "docker"
	TargetKubernetes = "kubernetes"
)

// Reasons of Kubernetes deployments.
const (
	ReasonHealthFailed = "HealthCheckFailed" // applied, but not healthy in time
	ReasonHookFailed   = "HookFailed"        // a PreSync, Sync or PostSync hook failed
)

// reconcileKube makes the deployment's cluster hold the objects of its
// folder at art's commit, prunes what left it (prune: true), saves the
// status and returns it. When rendering or applying fails, what runs and
// the inventory stay as the last good pass left them.
func (c *Controller) reconcileKube(ctx context.Context, dep Deployment, art artifact, fetchErr error) DeploymentStatus {
	prev := c.previousStatus(dep.Name)
	st := DeploymentStatus{Name: dep.Name, Source: dep.Source, Target: TargetKubernetes, ObservedRevision: art.Revision,
		AppliedRevision: prev.AppliedRevision, Apps: []AppStatus{}, Objects: prev.Objects, Inventory: prev.Inventory,
		Releases: prev.Releases}
	log := c.log.With("deployment", dep.Name, "revision", short(art.Revision))
	stall := func(reason string, err error) DeploymentStatus { return c.stall(ctx, log, st, reason, err) }
	if fetchErr != nil {
		st.ObservedRevision = prev.ObservedRevision
		return stall(ReasonSourceFailed, fetchErr)
	}
	if _, err := art.export(ctx, c.checkoutDir(art), dep.Path); err != nil {
		return stall(ReasonSourceFailed, err)
	}
	k := dep.Kubernetes
	cluster, err := c.cluster(dep)
	if err != nil {
		return stall(ReasonDeployFailed, err)
	}
	objs, releases, releaseRefs, reason, err := c.desiredObjects(ctx, dep, art, cluster)
	if err != nil {
		return stall(reason, err)
	}

	owner := kube.Owner{Installation: c.installation, Deployment: dep.Name}
	// The timeout bounds the apply and its wait; each Helm release's
	// actions have their own (the release's timeout, by default this one).
	// ctx stays the pass's own, which stall looks at: the timeout running
	// out is a failed pass, not the controller stopping.
	applyCtx, cancel := context.WithTimeout(ctx, k.Timeout)
	defer cancel()
	if err := cluster.Prepare(objs, owner); err != nil {
		return stall(ReasonDeployFailed, err)
	}
	plan, err := kube.NewPlan(objs)
	if err != nil {
		return stall(ReasonInvalid, err)
	}
	want := union(refs(plan.Objects), releaseRefs)
	// Saved before the apply, so a crash shows, and the inventory already
	// holds what this pass may create: a kill between apply and save must
	// not leave objects that no later pass prunes.
	st.Condition, st.Reason, st.Message = Reconciling, ReasonProgressing, "applying "+short(art.Revision)
	st.Inventory = union(prev.Inventory, want)
	c.save(st)
	// Hooks run once per revision, as Argo CD runs them once per sync: a
	// pass that only corrects drift runs none.
	runHooks := art.Revision != prev.AppliedRevision
	applied, err := cluster.ApplyPlan(applyCtx, owner, plan, kube.PlanOptions{
		ApplyOptions: kube.ApplyOptions{Timeout: k.Timeout, Wait: k.Wait}, RunHooks: runHooks})
	if err != nil {
		// Nothing, part or all of it written: keep the old inventory and
		// add the new objects, so an object created before the failure is
		// pruned once it leaves git; prune waits for a healthy pass.
		st.Objects = mergeStatuses(applied, prev.Objects)
		st.Inventory = union(prev.Inventory, want)
		var hookErr *kube.HookError
		switch {
		case errors.As(err, &hookErr):
			return stall(ReasonHookFailed, err)
		case kube.IsHealthError(err):
			return stall(ReasonHealthFailed, err)
		}
		return stall(ReasonDeployFailed, err)
	}
	st.Objects = applied
	st.Inventory = want
	if len(releases) > 0 {
		rels, results, err := c.reconcileReleases(ctx, dep, cluster, releases, prev.Releases)
		st.Objects, st.Releases = append(st.Objects, rels...), results
		if err != nil {
			st.Inventory = union(st.Inventory, prev.Inventory)
			return stall(ReasonDeployFailed, err)
		}
	}
	for _, o := range applied {
		if o.Action != "unchanged" && o.Action != "" {
			log.Info("gitops: applied", "object", o.Ref.String(), "action", o.Action)
		}
	}
	if stale := kube.Stale(prev.Inventory, st.Inventory); len(stale) > 0 {
		if !dep.Prune {
			for _, r := range stale {
				st.Objects = append(st.Objects, kube.ObjectStatus{Ref: r, Action: "orphaned", Message: "left git; kept (prune: false)"})
			}
		} else {
			pruned, err := c.prune(ctx, dep, cluster, owner, stale)
			st.Objects = append(st.Objects, pruned...)
			if err != nil {
				st.Inventory = union(st.Inventory, stale)
				return stall(ReasonDeployFailed, fmt.Errorf("prune: %w", err))
			}
			for _, p := range pruned {
				log.Info("gitops: pruned", "object", p.Ref.String(), "action", p.Action)
			}
		}
	}
	st.Condition, st.Reason, st.AppliedRevision = Ready, ReasonSucceeded, art.Revision
	st.Message = fmt.Sprintf("%d object(s) at %s", len(plan.Objects), short(art.Revision))
	if len(releases) > 0 {
		st.Message = fmt.Sprintf("%d object(s) and %d Helm release(s) at %s", len(plan.Objects), len(releases), short(art.Revision))
	}
	c.save(st)
	c.cleanCheckouts(art)
	return st
}

// desiredObjects renders the deployment's folder at art's commit: the
// objects to apply and the Helm releases to install (with their refs);
// on failure, the reason the deployment stalls for.
func (c *Controller) desiredObjects(ctx context.Context, dep Deployment, art artifact, cluster *kube.Cluster) (
	objs []*unstructured.Unstructured, releases []helmrelease.Spec, releaseRefs []kube.Ref, reason string, err error) {
	k := dep.Kubernetes
	ropts := render.Options{}
	if k.PostBuild != nil {
		ropts.Substitute = true
		if ropts.Vars, err = c.substitutions(ctx, cluster, k.PostBuild); err != nil {
			return nil, nil, nil, ReasonDeployFailed, err
		}
	}
	rendered, err := render.Render(c.checkoutDir(art), dep.Path, ropts)
	if err != nil {
		return nil, nil, nil, ReasonInvalid, err
	}
	for _, o := range rendered {
		if !isHelmRelease(o.Unstructured) {
			objs = append(objs, o.Unstructured)
			continue
		}
		spec, err := helmSpec(o, c.checkoutDir(art), cluster.Namespace(), k.Timeout, k.Wait)
		if err != nil {
			return nil, nil, nil, ReasonInvalid, err
		}
		releases = append(releases, spec)
		releaseRefs = append(releaseRefs, kube.Ref{APIVersion: HelmReleaseAPIVersion, Kind: HelmReleaseKind, Namespace: spec.Namespace, Name: spec.ReleaseName})
	}
	return objs, releases, releaseRefs, "", nil
}

// prune deletes stale objects and uninstalls stale Helm releases.
func (c *Controller) prune(ctx context.Context, dep Deployment, cl *kube.Cluster, owner kube.Owner, stale []kube.Ref) ([]kube.ObjectStatus, error) {
	var objs []kube.Ref
	var out []kube.ObjectStatus
	var errs []error
	for _, r := range stale {
		if r.APIVersion != HelmReleaseAPIVersion || r.Kind != HelmReleaseKind {
			objs = append(objs, r)
			continue
		}
		st := kube.ObjectStatus{Ref: r, Action: "deleted", Message: "uninstalled"}
		rel, err := c.releaser(dep)
		if err == nil {
			err = rel.Uninstall(r.Name, r.Namespace, dep.Kubernetes.Timeout)
		}
		if err != nil {
			st.Action, st.Message = "", oneLine(err)
			errs = append(errs, err)
		}
		out = append(out, st)
	}
	if len(objs) > 0 {
		pruned, err := cl.Prune(ctx, owner, objs)
		out = append(out, pruned...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// cluster is the deployment's connection, made on first use.
func (c *Controller) cluster(dep Deployment) (*kube.Cluster, error) {
	c.clustersMu.Lock()
	defer c.clustersMu.Unlock()
	if cl, ok := c.clusters[dep.Name]; ok {
		return cl, nil
	}
	k := dep.Kubernetes
	cl, err := kube.Connect(kube.Target{Kubeconfig: k.Kubeconfig, Context: k.Context, InCluster: k.InCluster, Namespace: k.Namespace})
	if err != nil {
		return nil, err
	}
	c.clusters[dep.Name] = cl
	return cl, nil
}

// substitutions gathers the postBuild values: the ConfigMaps' and
// Secrets' in order, then the inline ones, which win (Flux's order).
func (c *Controller) substitutions(ctx context.Context, cl *kube.Cluster, pb *PostBuild) (map[string]string, error) {
	vars := map[string]string{}
	for _, ref := range pb.SubstituteFrom {
		data, err := cl.Data(ctx, ref.Kind, ref.Name)
		if errors.Is(err, kube.ErrNotFound) && ref.Optional {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postBuild.substituteFrom: %w", err)
		}
		maps.Copy(vars, data)
	}
	maps.Copy(vars, pb.Substitute)
	return vars, nil
}

func refs(objs []*unstructured.Unstructured) []kube.Ref {
	out := make([]kube.Ref, len(objs))
	for i, o := range objs {
		out[i] = kube.Ref{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
	}
	return out
}

// mergeStatuses is cur followed by the statuses of old whose object cur
// lacks: a pass cut short shows what it did and what it did not get to as
// the pass before left it.
func mergeStatuses(cur, old []kube.ObjectStatus) []kube.ObjectStatus {
	out := append([]kube.ObjectStatus{}, cur...)
	for _, o := range old {
		if !slices.ContainsFunc(cur, func(n kube.ObjectStatus) bool { return n.Ref == o.Ref }) {
			out = append(out, o)
		}
	}
	return out
}

// union is a followed by the refs of b it lacks.
func union(a, b []kube.Ref) []kube.Ref {
	out := append([]kube.Ref{}, a...)
	return append(out, kube.Stale(b, a)...)
}

// installationID is the id that labels this controller's objects: the
// server's, else the one kept in STATE/installation, else one made from
// the state folder's path, so that a folder removed and made again at the
// same place is the same installation.
func installationID(stateDir, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	p := filepath.Join(stateDir, "installation")
	b, err := os.ReadFile(p)
	if id := strings.TrimSpace(string(b)); err == nil && id != "" {
		return id, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("gitops: installation id: %w", err)
	}
	sum := sha256.Sum256([]byte("slipway-gitops\n" + stateDir))
	id := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:6]
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("gitops: installation id: %w", err)
	}
	return id, nil
}
