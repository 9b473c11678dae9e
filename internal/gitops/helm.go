package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"time"

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
	Upgrade struct {
		Remediation struct {
			Retries int `json:"retries"`
		} `json:"remediation"`
	} `json:"upgrade"`
}

func isHelmRelease(o *unstructured.Unstructured) bool {
	return o.GetAPIVersion() == HelmReleaseAPIVersion && o.GetKind() == HelmReleaseKind
}

// helmSpec reads a HelmRelease object; errors name where it comes from.
func helmSpec(o render.Object, checkout, namespace string, timeout time.Duration) (helmrelease.Spec, error) {
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
		Chart: s.Chart.Name, Version: s.Chart.Version, Values: s.Values, Timeout: timeout, Retries: s.Upgrade.Remediation.Retries}
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
	case s.Chart.RepoURL == "" || s.Chart.Name == "":
		return spec, fmt.Errorf("%s: spec.chart: want repoURL and name (or path)", at)
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
func (c *Controller) releaser(dep Deployment) *helmrelease.Releaser {
	return &helmrelease.Releaser{Kubeconfig: dep.Kubernetes.Kubeconfig, Context: dep.Kubernetes.Context, Log: c.log}
}

// reconcileReleases makes each release; a failing one does not stop the
// others, and the error joins theirs.
func (c *Controller) reconcileReleases(ctx context.Context, dep Deployment, cl *kube.Cluster, specs []helmrelease.Spec) ([]kube.ObjectStatus, error) {
	r := c.releaser(dep)
	data := func(ctx context.Context, kind, name string) (map[string]string, bool, error) {
		d, err := cl.Data(ctx, kind, name)
		if errors.Is(err, kube.ErrNotFound) {
			return nil, false, nil
		}
		return d, err == nil, err
	}
	var out []kube.ObjectStatus
	var errs []error
	for _, s := range specs {
		res, err := r.Reconcile(ctx, s, data)
		st := kube.ObjectStatus{Ref: kube.Ref{APIVersion: HelmReleaseAPIVersion, Kind: HelmReleaseKind, Namespace: s.Namespace, Name: s.ReleaseName},
			Action: res.Action, Health: res.Status}
		if res.ChartVersion != "" {
			st.Message = fmt.Sprintf("chart %s, revision %d", res.ChartVersion, res.Revision)
		}
		if err != nil {
			st.Message = oneLine(err)
			errs = append(errs, err)
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}
