package gitops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Actions a diff reports for apps on a Docker host; Kubernetes objects get
// ssa's (created, configured, unchanged) and pruned or orphaned.
const (
	DiffCreated   = "created"
	DiffUpdated   = "updated"
	DiffRemoved   = "removed"
	DiffOrphaned  = "orphaned"
	DiffUnchanged = "unchanged"
	DiffInvalid   = "invalid"
	DiffPruned    = "pruned"
)

// Change is what a pass would do to one app or object, and why.
type Change struct {
	// Kind is "app" on a Docker host, the object's kind on Kubernetes.
	Kind string `json:"kind"`
	// Name is the app's folder, or Kind/namespace/name.
	Name   string `json:"name"`
	Action string `json:"action"`
	Why    string `json:"why,omitempty"`
}

// DeploymentDiff is what a pass of one deployment would change.
type DeploymentDiff struct {
	Name     string   `json:"name"`
	Target   string   `json:"target"`
	Revision string   `json:"revision,omitempty"`
	Changes  []Change `json:"changes"`
	// Error is why the deployment could not be compared (source, engine,
	// cluster, spec).
	Error string `json:"error,omitempty"`
}

// Changed tells whether a pass would change anything.
func (d DeploymentDiff) Changed() bool {
	return slices.ContainsFunc(d.Changes, func(c Change) bool { return c.Action != DiffUnchanged })
}

// Diff fetches the sources and tells, per deployment (all when none is
// named), what a pass would change, changing nothing: no app is deployed
// or removed, no object written, no status saved. Images are pulled to
// learn their digests, as a pass does.
func (c *Controller) Diff(ctx context.Context, deployments ...string) ([]DeploymentDiff, error) {
	for _, name := range deployments {
		if !slices.ContainsFunc(c.opts.Config.Deployments, func(d Deployment) bool { return d.Name == name }) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownDeployment, name)
		}
	}
	arts := map[string]artifact{}
	errs := map[string]error{}
	var out []DeploymentDiff
	for _, dep := range c.opts.Config.Deployments {
		if len(deployments) > 0 && !slices.Contains(deployments, dep.Name) {
			continue
		}
		if _, ok := arts[dep.Source]; !ok && errs[dep.Source] == nil {
			src, _ := c.opts.Config.Source(dep.Source)
			arts[dep.Source], errs[dep.Source] = c.fetch(ctx, src)
		}
		d := DeploymentDiff{Name: dep.Name, Target: TargetDocker, Revision: arts[dep.Source].Revision, Changes: []Change{}}
		var err error
		switch {
		case errs[dep.Source] != nil:
			err = errs[dep.Source]
		case dep.Kubernetes != nil:
			d.Target = TargetKubernetes
			d.Changes, err = c.diffKube(ctx, dep, arts[dep.Source])
		default:
			d.Changes, err = c.diffDocker(ctx, dep, arts[dep.Source])
		}
		if err != nil {
			d.Error = err.Error()
		}
		out = append(out, d)
	}
	return out, nil
}

// diffDocker compares each app folder's desired spec with what runs, as
// reconcileApp does before it deploys.
func (c *Controller) diffDocker(ctx context.Context, dep Deployment, art artifact) ([]Change, error) {
	root, err := art.export(ctx, c.checkoutDir(art), dep.Path)
	if err != nil {
		return nil, err
	}
	apps, err := appFolders(root)
	if err != nil {
		return nil, err
	}
	running, err := c.running(ctx, dep.Name)
	if err != nil {
		return nil, err
	}
	p := &pass{dep: dep, art: art, root: root, envs: map[string]string{}, st: &DeploymentStatus{}}
	changes := []Change{}
	for _, app := range apps {
		ch := Change{Kind: "app", Name: app}
		env := envSlug(dep.Name, app)
		if env == "" || slug.Label(app) == "" {
			ch.Action, ch.Why = DiffInvalid, fmt.Sprintf("app folder %q: the name gives no slug", app)
			changes = append(changes, ch)
			continue
		}
		spec, ids, err := c.desired(ctx, p, app, env)
		cur := running[app]
		switch {
		case err != nil:
			ch.Action, ch.Why = DiffInvalid, oneLine(err)
			if !errors.As(err, new(*invalidError)) {
				ch.Action = "failed"
			}
		case cur == nil:
			ch.Action, ch.Why = DiffCreated, "first deploy"
		default:
			hosts, err := c.hosts(spec)
			if err != nil {
				ch.Action, ch.Why = DiffInvalid, oneLine(err)
				break
			}
			reason, why := compare(*cur, spec, ids, hosts)
			ch.Action, ch.Why = DiffUpdated, why
			if reason == ReasonUpToDate {
				ch.Action, ch.Why = DiffUnchanged, "running as "+short(art.Revision)+" asks"
			}
		}
		changes = append(changes, ch)
	}
	for _, app := range slices.Sorted(maps.Keys(running)) {
		if slices.Contains(apps, app) {
			continue
		}
		ch := Change{Kind: "app", Name: app, Action: DiffOrphaned, Why: "its folder left the source; kept running (prune: false)"}
		if dep.Prune {
			ch.Action, ch.Why = DiffRemoved, "its folder left the source (prune: true)"
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// diffKube dry-runs the objects of the commit on the cluster and lists
// those of the inventory that would be pruned.
func (c *Controller) diffKube(ctx context.Context, dep Deployment, art artifact) ([]Change, error) {
	if _, err := art.export(ctx, c.checkoutDir(art), dep.Path); err != nil {
		return nil, err
	}
	cluster, err := c.cluster(dep)
	if err != nil {
		return nil, err
	}
	objs, _, releaseRefs, _, err := c.desiredObjects(ctx, dep, art, cluster)
	if err != nil {
		return nil, err
	}
	owner := kube.Owner{Installation: c.installation, Deployment: dep.Name}
	if err := cluster.Prepare(objs, owner); err != nil {
		return nil, err
	}
	changes := []Change{}
	for _, o := range cluster.Diff(ctx, objs) {
		changes = append(changes, Change{Kind: o.Kind, Name: o.Ref.String(), Action: o.Action, Why: o.Message})
	}
	for _, r := range releaseRefs {
		changes = append(changes, Change{Kind: r.Kind, Name: r.String(), Action: "not compared", Why: "Helm releases are not dry-run"})
	}
	prev := c.previousStatus(dep.Name)
	for _, r := range kube.Stale(prev.Inventory, append(refs(objs), releaseRefs...)) {
		ch := Change{Kind: r.Kind, Name: r.String(), Action: DiffOrphaned, Why: "left git; kept (prune: false)"}
		if dep.Prune {
			ch.Action, ch.Why = DiffPruned, "left git (prune: true)"
		}
		changes = append(changes, ch)
	}
	return changes, nil
}
