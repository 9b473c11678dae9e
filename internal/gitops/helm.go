package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/gitops/render"
)

// HelmReleaseAPIVersion and HelmReleaseKind mark the objects of a
// deployment's folder that are Helm releases for Slipway to make, not
// objects to apply. Their spec follows Flux's HelmRelease.
const (
	HelmReleaseAPIVersion = "gitops.slipway.dev/v1"
	HelmReleaseKind       = "HelmRelease"
)

// helmReleaseSpec is the spec of a HelmRelease object.
type helmReleaseSpec struct {
	ReleaseName string `json:"releaseName"`
	Chart       struct {
		RepoURL string `json:"repoURL"`
		Name    string `json:"name"`
		Version string `json:"version"`
		// Path is a chart folder of the repository (from its root).
		Path string `json:"path"`
	} `json:"chart"`
	Values     map[string]any `json:"values"`
	ValuesFrom []struct {
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		ValuesKey  string `json:"valuesKey"`
		TargetPath string `json:"targetPath"`
		Optional   bool   `json:"optional"`
	} `json:"valuesFrom"`
	Timeout string `json:"timeout"`
	Test    struct {
		Enable bool `json:"enable"`
	} `json:"test"`
	Install struct {
		DisableWait bool        `json:"disableWait"`
		Remediation remediation `json:"remediation"`
	} `json:"install"`
	Upgrade struct {
		DisableWait bool        `json:"disableWait"`
		Remediation remediation `json:"remediation"`
	} `json:"upgrade"`
}

type remediation struct {
	Retries  int    `json:"retries"`
	Strategy string `json:"strategy"`
}

func isHelmRelease(o *unstructured.Unstructured) bool {
	return o.GetAPIVersion() == HelmReleaseAPIVersion && o.GetKind() == HelmReleaseKind
}

// helmSpec reads a HelmRelease object; errors name where it comes from.
func helmSpec(o render.Object, checkout, namespace string, timeout time.Duration, wait bool) (helmrelease.Spec, error) {
	at := fmt.Sprintf("%s: HelmRelease/%s", o.Origin, o.GetName())
	raw, err := json.Marshal(o.Object["spec"])
	if err != nil {
		return helmrelease.Spec{}, fmt.Errorf("%s: %w", at, err)
	}
	var s helmReleaseSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return helmrelease.Spec{}, fmt.Errorf("%s: spec: %w", at, err)
	}
	spec := helmrelease.Spec{ReleaseName: s.ReleaseName, Namespace: o.GetNamespace(), RepoURL: s.Chart.RepoURL,
		Chart: s.Chart.Name, Version: s.Chart.Version, Values: s.Values, Timeout: timeout, DisableWait: !wait,
		Test: s.Test.Enable, InstallRetries: s.Install.Remediation.Retries, UpgradeRetries: s.Upgrade.Remediation.Retries,
		UpgradeStrategy: s.Upgrade.Remediation.Strategy}
	if s.Install.DisableWait || s.Upgrade.DisableWait {
		// One wait setting for both: a release is installed or upgraded
		// by the same pass, and Flux users set the two together.
		spec.DisableWait = true
	}
	if spec.ReleaseName == "" {
		spec.ReleaseName = o.GetName()
	}
	if spec.Namespace == "" {
		spec.Namespace = namespace
	}
	if s.Timeout != "" {
		if spec.Timeout, err = time.ParseDuration(s.Timeout); err != nil {
			return spec, fmt.Errorf("%s: spec.timeout: %w", at, err)
		}
	}
	switch {
	case s.Chart.Path != "" && s.Chart.RepoURL != "":
		return spec, fmt.Errorf("%s: spec.chart: give repoURL and name, or path, not both", at)
	case s.Chart.Path != "":
		p := path.Clean(s.Chart.Path)
		if !filepath.IsLocal(p) {
			return spec, fmt.Errorf("%s: spec.chart.path: want a folder of the repository, got %q", at, s.Chart.Path)
		}
		spec.ChartDir = filepath.Join(checkout, filepath.FromSlash(p))
	case registry.IsOCI(s.Chart.RepoURL):
		// oci://host/repo with name, as Flux's HelmRepository of type oci,
		// or oci://host/repo/chart alone.
		if ref := helmrelease.OCIRef(s.Chart.RepoURL, s.Chart.Name); !strings.Contains(ref, "/") {
			return spec, fmt.Errorf("%s: spec.chart.repoURL: want oci://host/repository (and a name), got %q", at, s.Chart.RepoURL)
		}
	case s.Chart.RepoURL == "" || s.Chart.Name == "":
		return spec, fmt.Errorf("%s: spec.chart: want repoURL and name (or path)", at)
	}
	switch spec.UpgradeStrategy {
	case "":
		spec.UpgradeStrategy = helmrelease.StrategyRollback
	case helmrelease.StrategyRollback, helmrelease.StrategyUninstall:
	default:
		return spec, fmt.Errorf("%s: spec.upgrade.remediation.strategy: want rollback or uninstall, got %q", at, spec.UpgradeStrategy)
	}
	for i, vf := range s.ValuesFrom {
		if vf.Kind != "ConfigMap" && vf.Kind != "Secret" {
			return spec, fmt.Errorf("%s: spec.valuesFrom[%d].kind: want ConfigMap or Secret, got %q", at, i, vf.Kind)
		}
		spec.ValuesFrom = append(spec.ValuesFrom, helmrelease.ValuesFrom(vf))
	}
	return spec, nil
}

// releaser makes Helm releases on the deployment's cluster.
func (c *Controller) releaser(dep Deployment) (*helmrelease.Releaser, error) {
	hosts, err := dep.Kubernetes.helmHosts(c.getenv)
	if err != nil {
		return nil, err
	}
	return &helmrelease.Releaser{Kubeconfig: dep.Kubernetes.Kubeconfig, Context: dep.Kubernetes.Context, Hosts: hosts, Log: c.log}, nil
}

// reconcileReleases makes each release; a failing one does not stop the
// others, and the error joins theirs. prev are the releases as the last
// pass left them: their failure counts go on.
func (c *Controller) reconcileReleases(ctx context.Context, dep Deployment, cl *kube.Cluster, specs []helmrelease.Spec, prev []helmrelease.Result) ([]kube.ObjectStatus, []helmrelease.Result, error) {
	r, err := c.releaser(dep)
	if err != nil {
		return nil, nil, err
	}
	data := func(ctx context.Context, kind, name string) (map[string]string, bool, error) {
		d, err := cl.Data(ctx, kind, name)
		if errors.Is(err, kube.ErrNotFound) {
			return nil, false, nil
		}
		return d, err == nil, err
	}
	var out []kube.ObjectStatus
	var results []helmrelease.Result
	var errs []error
	for _, s := range specs {
		var failures helmrelease.Failures
		for _, p := range prev {
			if p.Namespace == s.Namespace && p.Name == s.ReleaseName {
				failures = p.Failures
			}
		}
		res, err := r.Reconcile(ctx, s, data, failures)
		st := kube.ObjectStatus{Ref: kube.Ref{APIVersion: HelmReleaseAPIVersion, Kind: HelmReleaseKind, Namespace: s.Namespace, Name: s.ReleaseName},
			Action: res.Action, Health: res.Status, Message: res.Summary(), ChartVersion: res.ChartVersion}
		if err != nil {
			st.Message = strings.TrimPrefix(st.Message+": "+oneLine(err), ": ")
			errs = append(errs, err)
		}
		out = append(out, st)
		results = append(results, res)
	}
	return out, results, errors.Join(errs...)
}
