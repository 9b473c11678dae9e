package gitops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
)

// Condition is the state of a deployment or an app, as Flux names them.
type Condition string

// Conditions.
const (
	// Ready: what runs is what the source asks for.
	Ready Condition = "Ready"
	// Reconciling: a deploy is under way (or was cut short: the next pass
	// finishes it).
	Reconciling Condition = "Reconciling"
	// Stalled: the last attempt failed; Message says why. The next pass
	// tries again.
	Stalled Condition = "Stalled"
)

// Reasons say what the last pass did or found.
const (
	ReasonCreated        = "Created"        // first deploy of the app
	ReasonUpdated        = "Updated"        // the desired spec changed
	ReasonDriftCorrected = "DriftCorrected" // containers were put back
	ReasonUpToDate       = "UpToDate"       // nothing to do
	ReasonProgressing    = "Progressing"    // a deploy is running
	ReasonInvalid        = "InvalidSpec"    // compose.yaml or app name refused
	ReasonDeployFailed   = "DeployFailed"   // image missing, not healthy...
	ReasonSourceFailed   = "SourceFailed"   // the source could not be fetched
	ReasonPruned         = "Pruned"         // the app left git and was removed
	ReasonOrphaned       = "Orphaned"       // the app left git; prune is off

	// A deployment is Ready with ReasonSucceeded once all its apps are,
	// Stalled with ReasonAppsFailed when some are not.
	ReasonSucceeded  = "ReconciliationSucceeded"
	ReasonAppsFailed = "AppsFailed"
)

// DeploymentStatus is the state of one deployment.
type DeploymentStatus struct {
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	Condition Condition `json:"condition"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
	// ObservedRevision is the source commit the last pass saw.
	ObservedRevision string `json:"observed_revision,omitempty"`
	// AppliedRevision is the last commit whose apps all became Ready.
	AppliedRevision string      `json:"applied_revision,omitempty"`
	Apps            []AppStatus `json:"apps"`
	// Target is docker or kubernetes.
	Target string `json:"target,omitempty"`
	// Objects are a Kubernetes deployment's objects as the last pass left
	// them: what it did to each and their health.
	Objects []kube.ObjectStatus `json:"objects,omitempty"`
	// Inventory is every object the deployment applied and has not pruned:
	// what prune compares the next commit with.
	Inventory []kube.Ref `json:"inventory,omitempty"`
	// Releases are its Helm releases as the last pass left them, with
	// their failure counts (which the next pass goes on from).
	Releases []helmrelease.Result `json:"releases,omitempty"`
	// Suspended: no pass applies or prunes anything until it is resumed.
	Suspended bool      `json:"suspended,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AppStatus is the state of one app (one folder) of a deployment.
type AppStatus struct {
	Name      string    `json:"name"`
	Condition Condition `json:"condition"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
	// Env is the environment slug its containers carry.
	Env              string `json:"env,omitempty"`
	ObservedRevision string `json:"observed_revision,omitempty"`
	// AppliedRevision is the commit the running containers come from
	// (their label).
	AppliedRevision string `json:"applied_revision,omitempty"`
	// Spec is the hash of the running desired spec.
	Spec     string          `json:"spec,omitempty"`
	Services []ServiceStatus `json:"services,omitempty"`
	// Changed tells whether the last pass deployed or removed something.
	Changed bool `json:"changed,omitempty"`
	// LastChange is when a pass last deployed or removed it, or found it
	// failing anew.
	LastChange time.Time `json:"last_change,omitzero"`
}

// ServiceStatus is one running service of an app.
type ServiceStatus struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Addr is the loopback address of an exposed service.
	Addr string `json:"addr,omitempty"`
	Host string `json:"host,omitempty"`
}

// App returns the named app's status.
func (s DeploymentStatus) App(name string) (AppStatus, bool) {
	for _, a := range s.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return AppStatus{}, false
}

// statusFile is where a deployment's status is kept.
func (c *Controller) statusFile(deployment string) string {
	return filepath.Join(c.opts.StateDir, "status", deployment+".json")
}

// ReadStatus reads the status file of a deployment under stateDir; a
// deployment never reconciled has none (fs.ErrNotExist).
func ReadStatus(stateDir, deployment string) (DeploymentStatus, error) {
	var st DeploymentStatus
	b, err := os.ReadFile(filepath.Join(stateDir, "status", deployment+".json"))
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", deployment, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("status of %s: %w", deployment, err)
	}
	return st, nil
}

// ReadStatuses reads the status files of every deployment reconciled
// with stateDir, sorted by name.
func ReadStatuses(stateDir string) ([]DeploymentStatus, error) {
	files, err := filepath.Glob(filepath.Join(stateDir, "status", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []DeploymentStatus
	for _, f := range files {
		st, err := ReadStatus(stateDir, strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// saveStatus writes the file through a rename, so a crash leaves the old
// or the new one, never half of it.
func (c *Controller) saveStatus(st DeploymentStatus) error {
	p := c.statusFile(st.Name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// previousStatus is the last saved status, or an empty one.
func (c *Controller) previousStatus(name string) DeploymentStatus {
	st, err := ReadStatus(c.opts.StateDir, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("gitops: status file unreadable; starting from what runs", "deployment", name, "err", err)
	}
	return st
}

// dropStaleStatuses removes the status files of deployments the config no
// longer has: status would show them as they were for ever.
func (c *Controller) dropStaleStatuses() {
	files, _ := filepath.Glob(filepath.Join(c.opts.StateDir, "status", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if slices.ContainsFunc(c.opts.Config.Deployments, func(d Deployment) bool { return d.Name == name }) {
			continue
		}
		if err := os.Remove(f); err != nil {
			c.log.Warn("gitops: status of a deployment no longer in the config", "deployment", name, "err", err)
			continue
		}
		c.log.Info("gitops: status dropped: the deployment left the config (its apps keep running)", "deployment", name)
	}
}
