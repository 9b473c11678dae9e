package gitops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReasonSuspended: the deployment is suspended; nothing is applied or
// pruned until it is resumed.
const ReasonSuspended = "Suspended"

// ErrSuspendedByConfig is returned by Resume for a deployment whose config
// says suspend: true: only the config can resume it.
var ErrSuspendedByConfig = errors.New("suspended by the config (suspend: true): set suspend: false in it and restart")

// suspendFile marks a deployment suspended by Suspend; it outlives a
// restart of the controller.
func (c *Controller) suspendFile(name string) string {
	return filepath.Join(c.opts.StateDir, "suspended", name)
}

// suspendedBy says who suspended the deployment: "config", "request" (the
// CLI or the API), "" for nobody.
func (c *Controller) suspendedBy(dep Deployment) string {
	if dep.Suspend {
		return "config"
	}
	if _, err := os.Stat(c.suspendFile(dep.Name)); err == nil {
		return "request"
	}
	return ""
}

// Suspend stops the deployment's passes, as flux suspend does: what runs
// stays as it is, drift included, until Resume.
func (c *Controller) Suspend(name string) error {
	dep, ok := c.deployment(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownDeployment, name)
	}
	p := c.suspendFile(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("gitops: suspend %s: %w", name, err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return fmt.Errorf("gitops: suspend %s: %w", name, err)
	}
	c.log.Info("gitops: deployment suspended", "deployment", name)
	c.saveSuspended(dep)
	return nil
}

// Resume lets the deployment's passes run again and asks for one now.
func (c *Controller) Resume(name string) error {
	dep, ok := c.deployment(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownDeployment, name)
	}
	if dep.Suspend {
		return fmt.Errorf("deployment %s: %w", name, ErrSuspendedByConfig)
	}
	if err := os.Remove(c.suspendFile(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gitops: resume %s: %w", name, err)
	}
	c.log.Info("gitops: deployment resumed", "deployment", name)
	st := c.previousStatus(name)
	if st.Name != "" && st.Suspended {
		st.Reason, st.Message = ReasonProgressing, "resumed; a pass is requested"
		c.save(st)
	}
	return c.Reconcile(name)
}

// saveSuspended records in the deployment's status that it is suspended,
// keeping what it says of its apps and objects.
func (c *Controller) saveSuspended(dep Deployment) DeploymentStatus {
	st := c.previousStatus(dep.Name)
	st.Name, st.Source = dep.Name, dep.Source
	if st.Apps == nil {
		st.Apps = []AppStatus{}
	}
	if dep.Kubernetes != nil {
		st.Target = TargetKubernetes
	}
	if st.Condition == "" {
		st.Condition = Reconciling
	}
	by := "by slipway gitops suspend"
	if dep.Suspend {
		by = "by the config (suspend: true)"
	}
	st.Reason, st.Message = ReasonSuspended, "suspended "+by+": neither applied nor pruned until resumed"
	st.Suspended = true
	c.save(st)
	return st
}
