package gitops

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReasonDependencyNotReady: a deployment of dependsOn is not Ready at its
// source's current revision yet; the pass waits (Flux's reason).
const ReasonDependencyNotReady = "DependencyNotReady"

// dependencyRetry is how soon a deployment waiting on another is tried
// again (Flux's default is 30s).
const dependencyRetry = 5 * time.Second

// checkDependencies refuses dependsOn entries naming no deployment, the
// deployment itself, or closing a cycle; the error is at the entry.
func (d *decoder) checkDependencies(c *Config) error {
	index := map[string]int{}
	for i, dep := range c.Deployments {
		index[dep.Name] = i
	}
	for i, dep := range c.Deployments {
		for j, name := range dep.DependsOn {
			field := fmt.Sprintf("deployments[%d].dependsOn[%d]", i, j)
			switch _, ok := index[name]; {
			case name == dep.Name:
				return d.errf(d.at[field], field, "deployment %q depends on itself", name)
			case !ok:
				return d.errf(d.at[field], field, "no deployment named %q", name)
			}
		}
	}
	// A depth-first walk from each deployment finds the first entry that
	// leads back to a deployment on the walk's path.
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(c.Deployments))
	var path []string
	var walk func(i int) error
	walk = func(i int) error {
		state[i] = onPath
		path = append(path, c.Deployments[i].Name)
		for j, name := range c.Deployments[i].DependsOn {
			next := index[name]
			switch state[next] {
			case onPath:
				field := fmt.Sprintf("deployments[%d].dependsOn[%d]", i, j)
				cycle := append(slices.Clone(path[slices.Index(path, name):]), name)
				return d.errf(d.at[field], field, "dependsOn cycle: %s", strings.Join(cycle, " -> "))
			case unseen:
				if err := walk(next); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range c.Deployments {
		if state[i] == unseen {
			if err := walk(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// dependencyOrder is the config's deployments with each after those it
// depends on, otherwise in the config's order, so that one pass over them
// reconciles a dependency before what waits on it.
func dependencyOrder(deps []Deployment) []Deployment {
	out := make([]Deployment, 0, len(deps))
	placed := map[string]bool{}
	var place func(d Deployment)
	place = func(d Deployment) {
		if placed[d.Name] {
			return
		}
		placed[d.Name] = true // the config has no cycle
		for _, name := range d.DependsOn {
			if i := slices.IndexFunc(deps, func(o Deployment) bool { return o.Name == name }); i >= 0 {
				place(deps[i])
			}
		}
		out = append(out, d)
	}
	for _, d := range deps {
		place(d)
	}
	return out
}

// notReady says which of dep's dependencies is not Ready at its source's
// current revision (arts, the revision each source was last fetched at),
// "" when all are.
func (c *Controller) notReady(dep Deployment, arts map[string]artifact) string {
	for _, name := range dep.DependsOn {
		other, _ := c.deployment(name)
		st, err := ReadStatus(c.opts.StateDir, name)
		switch {
		case err != nil:
			return fmt.Sprintf("dependency %s was not reconciled yet", name)
		case st.Condition != Ready:
			return fmt.Sprintf("dependency %s is %s (%s)", name, st.Condition, st.Reason)
		case st.Suspended:
			// Suspended, it stays at its revision: Ready is all it gives.
		case arts[other.Source].Revision != "" && st.AppliedRevision != arts[other.Source].Revision:
			return fmt.Sprintf("dependency %s is not Ready at %s yet (applied %s)", name, short(arts[other.Source].Revision), short(st.AppliedRevision))
		}
	}
	return ""
}

// waitForDependencies records that dep waits on a dependency: what runs
// and the inventory are left as they are.
func (c *Controller) waitForDependencies(dep Deployment, why string) DeploymentStatus {
	st := c.previousStatus(dep.Name)
	st.Name, st.Source = dep.Name, dep.Source
	if st.Apps == nil {
		st.Apps = []AppStatus{}
	}
	if dep.Kubernetes != nil {
		st.Target = TargetKubernetes
	}
	st.Condition, st.Reason, st.Message = Reconciling, ReasonDependencyNotReady, "waiting: "+why
	c.log.Info("gitops: waiting for a dependency", "deployment", dep.Name, "why", why)
	c.save(st)
	return st
}

// deployment returns the config's deployment of that name.
func (c *Controller) deployment(name string) (Deployment, bool) {
	i := slices.IndexFunc(c.opts.Config.Deployments, func(d Deployment) bool { return d.Name == name })
	if i < 0 {
		return Deployment{}, false
	}
	return c.opts.Config.Deployments[i], true
}
