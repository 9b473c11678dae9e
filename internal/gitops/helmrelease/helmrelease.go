// Package helmrelease installs, upgrades, rolls back and uninstalls one
// Helm release on a cluster with Helm's own SDK, so the release is stored
// as Helm stores it (Secrets of the release's namespace) and `helm list`,
// `helm history` and `helm rollback` see and handle it.
//
// A pass resolves the chart (an HTTP Helm repository's index.yaml with a
// semver range, or a folder of a git checkout), merges the values in
// Flux's order (valuesFrom in order, then the inline values), and does
// nothing when the deployed release already has that chart version and
// those values.
package helmrelease

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"
)

// Spec is a release as git asks for it; its fields follow Flux's
// HelmRelease so that one translates to it.
type Spec struct {
	// ReleaseName and Namespace name the release.
	ReleaseName, Namespace string
	// RepoURL is an HTTP(S) Helm repository; Chart is the chart's name in
	// it and Version a semver range ("4.0.x"; "" for the newest).
	RepoURL, Chart, Version string
	// ChartDir, instead of a repository, is a chart folder (a checkout's).
	ChartDir string
	// ValuesFrom are merged in order, then Values over them.
	ValuesFrom []ValuesFrom
	Values     map[string]any
	// Timeout bounds each Helm action and its wait.
	Timeout time.Duration
	// Retries is how many times a failed upgrade is tried again (each time
	// after a rollback), as Flux's upgrade.remediation.retries.
	Retries int
}

// ValuesFrom is values taken from a ConfigMap or Secret's key.
type ValuesFrom struct {
	// Kind and Name name the object, read by the caller.
	Kind, Name string
	// ValuesKey is the key; values.yaml when unset.
	ValuesKey string
	// TargetPath, when set, puts the key's raw value at this dotted path
	// instead of reading it as YAML values.
	TargetPath string
	Optional   bool
}

// Data reads the keys of a ConfigMap or Secret of the release's namespace;
// found is false for a missing object.
type Data func(ctx context.Context, kind, name string) (data map[string]string, found bool, err error)

// Result is what a pass left.
type Result struct {
	// Revision is the release's revision, ChartVersion the chart's.
	Revision     int
	ChartVersion string
	// Status is Helm's: deployed, failed...
	Status string
	// Action is what this pass did: installed, upgraded, unchanged,
	// rolled back.
	Action string
}

// Releaser acts on one cluster.
type Releaser struct {
	// Kubeconfig and Context point Helm at the cluster, as helm's own
	// flags do; both "" is $KUBECONFIG or the in-cluster config.
	Kubeconfig, Context string
	// HTTP fetches index.yaml and chart archives.
	HTTP *http.Client
	Log  *slog.Logger
}

func (r *Releaser) config(namespace string) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(r.Log.Handler()))
	flags := genericclioptions.NewConfigFlags(false)
	flags.Namespace = &namespace
	if r.Kubeconfig != "" {
		flags.KubeConfig = &r.Kubeconfig
	}
	if r.Context != "" {
		flags.Context = &r.Context
	}
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// Reconcile brings the release to spec: install, upgrade (rolled back
// when it fails, and tried again Retries times), or nothing.
func (r *Releaser) Reconcile(ctx context.Context, spec Spec, data Data) (Result, error) {
	if spec.Timeout <= 0 {
		spec.Timeout = 5 * time.Minute
	}
	ch, err := r.chart(ctx, spec)
	if err != nil {
		return Result{}, err
	}
	vals, err := Values(ctx, spec, data)
	if err != nil {
		return Result{}, err
	}
	cfg, err := r.config(spec.Namespace)
	if err != nil {
		return Result{}, err
	}
	last, err := cfg.Releases.Last(spec.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return r.install(ctx, cfg, spec, ch, vals)
	}
	if err != nil {
		return Result{}, fmt.Errorf("helm: release %s: %w", spec.ReleaseName, err)
	}
	cur, ok := last.(*release.Release)
	if !ok {
		return Result{}, fmt.Errorf("helm: release %s: unsupported release type %T", spec.ReleaseName, last)
	}
	if cur.Info.Status == rcommon.StatusDeployed && cur.Chart.Metadata.Version == ch.Metadata.Version && digest(cur.Config) == digest(vals) {
		return Result{Revision: cur.Version, ChartVersion: ch.Metadata.Version, Status: cur.Info.Status.String(), Action: "unchanged"}, nil
	}
	var upErr error
	for try := 0; try <= spec.Retries; try++ {
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout, up.WaitStrategy, up.MaxHistory = spec.Namespace, spec.Timeout, kube.StatusWatcherStrategy, 10
		rel, err := up.RunWithContext(ctx, spec.ReleaseName, ch, vals)
		if err == nil {
			return result(rel, "upgraded")
		}
		upErr = err
		r.Log.Warn("helm: upgrade failed; rolling back", "release", spec.ReleaseName, "try", try+1, "err", err)
		if rbErr := r.rollback(cfg, spec); rbErr != nil {
			return Result{}, fmt.Errorf("helm: upgrade of %s failed: %w; rollback failed too: %v", spec.ReleaseName, err, rbErr)
		}
	}
	res, _ := r.Status(spec.ReleaseName, spec.Namespace)
	res.Action = "rolled back"
	return res, fmt.Errorf("helm: upgrade of %s to chart %s failed, rolled back to revision %d: %w", spec.ReleaseName, ch.Metadata.Version, res.Revision, upErr)
}

func (r *Releaser) install(ctx context.Context, cfg *action.Configuration, spec Spec, ch *chart.Chart, vals map[string]any) (Result, error) {
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout, in.WaitStrategy = spec.ReleaseName, spec.Namespace, spec.Timeout, kube.StatusWatcherStrategy
	rel, err := in.RunWithContext(ctx, ch, vals)
	if err != nil {
		// A failed install is uninstalled, as Flux's install remediation
		// does, so the next pass installs afresh.
		un := action.NewUninstall(cfg)
		un.Timeout, un.WaitStrategy = spec.Timeout, kube.StatusWatcherStrategy
		if _, uerr := un.Run(spec.ReleaseName); uerr != nil {
			r.Log.Warn("helm: uninstall after a failed install", "release", spec.ReleaseName, "err", uerr)
		}
		return Result{}, fmt.Errorf("helm: install of %s failed: %w", spec.ReleaseName, err)
	}
	return result(rel, "installed")
}

// rollback goes back to the last deployed revision before the failed one.
func (r *Releaser) rollback(cfg *action.Configuration, spec Spec) error {
	rb := action.NewRollback(cfg)
	rb.Timeout, rb.WaitStrategy, rb.MaxHistory = spec.Timeout, kube.StatusWatcherStrategy, 10
	return rb.Run(spec.ReleaseName) // 0: the previous revision
}

// Uninstall removes the release (its objects and its history).
func (r *Releaser) Uninstall(releaseName, namespace string, timeout time.Duration) error {
	cfg, err := r.config(namespace)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Timeout, un.WaitStrategy, un.IgnoreNotFound = timeout, kube.StatusWatcherStrategy, true
	if _, err := un.Run(releaseName); err != nil {
		return fmt.Errorf("helm: uninstall %s: %w", releaseName, err)
	}
	return nil
}

// Status is the release's last revision.
func (r *Releaser) Status(releaseName, namespace string) (Result, error) {
	cfg, err := r.config(namespace)
	if err != nil {
		return Result{}, err
	}
	last, err := cfg.Releases.Last(releaseName)
	if err != nil {
		return Result{}, fmt.Errorf("helm: release %s: %w", releaseName, err)
	}
	return result(last, "")
}

func result(rel any, act string) (Result, error) {
	r, ok := rel.(*release.Release)
	if !ok {
		return Result{}, fmt.Errorf("helm: unsupported release type %T", rel)
	}
	return Result{Revision: r.Version, ChartVersion: r.Chart.Metadata.Version, Status: r.Info.Status.String(), Action: act}, nil
}

// chart loads the spec's chart: from its folder, or the newest version of
// the repository's index that matches the range.
func (r *Releaser) chart(ctx context.Context, spec Spec) (*chart.Chart, error) {
	if spec.ChartDir != "" {
		ch, err := loader.LoadDir(spec.ChartDir)
		if err != nil {
			return nil, fmt.Errorf("helm: chart %s: %w", spec.ChartDir, err)
		}
		return ch, nil
	}
	base, err := url.Parse(strings.TrimSuffix(spec.RepoURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("helm: repository %q: want an http(s) URL", spec.RepoURL)
	}
	raw, err := r.get(ctx, base.JoinPath("index.yaml").String())
	if err != nil {
		return nil, fmt.Errorf("helm: repository %s: %w", spec.RepoURL, err)
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("helm: repository %s: index.yaml: %w", spec.RepoURL, err)
	}
	idx.SortEntries()
	cv, err := idx.Get(spec.Chart, spec.Version)
	if err != nil {
		return nil, fmt.Errorf("helm: repository %s: chart %s version %q: %w", spec.RepoURL, spec.Chart, spec.Version, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("helm: repository %s: chart %s %s has no URL", spec.RepoURL, spec.Chart, cv.Version)
	}
	u, err := base.Parse(cv.URLs[0]) // relative URLs are relative to the repository
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s %s: %w", spec.Chart, cv.Version, err)
	}
	tgz, err := r.get(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s %s: %w", spec.Chart, cv.Version, err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s %s: %w", spec.Chart, cv.Version, err)
	}
	return ch, nil
}

func (r *Releaser) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	hc := r.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// Values merges the spec's values in Flux's order: each valuesFrom in
// turn (a key's YAML merged over what is there, or with targetPath its
// raw value set at that path), then the inline values over them.
func Values(ctx context.Context, spec Spec, data Data) (map[string]any, error) {
	out := map[string]any{}
	for i, vf := range spec.ValuesFrom {
		key := vf.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		d, found, err := data(ctx, vf.Kind, vf.Name)
		if err != nil {
			return nil, fmt.Errorf("valuesFrom[%d]: %w", i, err)
		}
		v, ok := d[key]
		if !found || !ok {
			if vf.Optional {
				continue
			}
			if !found {
				return nil, fmt.Errorf("valuesFrom[%d]: %s %s/%s not found", i, vf.Kind, spec.Namespace, vf.Name)
			}
			return nil, fmt.Errorf("valuesFrom[%d]: %s %s/%s has no key %q", i, vf.Kind, spec.Namespace, vf.Name, key)
		}
		if vf.TargetPath != "" {
			// The path is read as helm --set-string reads one (a.b[0].c);
			// the value is one string: its commas and backslashes escaped.
			esc := strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(v)
			if err := strvals.ParseIntoString(vf.TargetPath+"="+esc, out); err != nil {
				return nil, fmt.Errorf("valuesFrom[%d]: targetPath %q: %w", i, vf.TargetPath, err)
			}
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(v), &m); err != nil {
			return nil, fmt.Errorf("valuesFrom[%d]: %s %s key %s: %w", i, vf.Kind, vf.Name, key, err)
		}
		out = merge(out, m)
	}
	return merge(out, spec.Values), nil
}

// merge puts src over dst, tables merged key by key.
func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// digest identifies values whatever their maps' order.
func digest(v map[string]any) string {
	if v == nil {
		v = map[string]any{}
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
