// Package helmrelease installs, upgrades, rolls back and uninstalls one
// Helm release on a cluster with Helm's own SDK, so the release is stored
// as Helm stores it (Secrets of the release's namespace) and `helm list`,
// `helm history` and `helm rollback` see and handle it.
//
// A pass resolves the chart (an HTTP Helm repository's index.yaml or an
// OCI registry's tags with a semver range, or a folder of a git
// checkout), merges the values in Flux's order (valuesFrom in order, then
// the inline values), and does nothing when the deployed release already
// has that chart version and those values. Otherwise it installs or
// upgrades, runs the chart's test hooks when asked, and remediates a
// failure as Flux's HelmRelease does: counted retries, a failed install
// uninstalled, a failed upgrade rolled back (or uninstalled).
package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// FieldManager owns, for server-side apply, the fields Slipway's Helm
// actions set: the manager of the manifests Slipway applies, not the
// name of the binary (Helm's default), which tests and builds change.
const FieldManager = "slipway"

func init() {
	// Helm reads its field manager from this variable only, as its own
	// main sets it.
	if kube.ManagedFieldsManager == "" {
		kube.ManagedFieldsManager = FieldManager
	}
}

// Spec is a release as git asks for it; its fields follow Flux's
// HelmRelease so that one translates to it.
type Spec struct {
	// ReleaseName and Namespace name the release.
	ReleaseName, Namespace string
	// RepoURL is an HTTP(S) Helm repository or an oci:// registry
	// repository; Chart is the chart's name in it and Version a semver
	// range ("4.0.x"; "" for the newest).
	RepoURL, Chart, Version string
	// ChartDir, instead of a repository, is a chart folder (a checkout's).
	ChartDir string
	// ValuesFrom are merged in order, then Values over them.
	ValuesFrom []ValuesFrom
	Values     map[string]any
	// Timeout bounds each Helm action: its wait, and its test hooks.
	Timeout time.Duration
	// DisableWait installs and upgrades without waiting for the objects
	// to be ready (hooks are still waited on).
	DisableWait bool
	// Test runs the chart's test hooks (helm.sh/hook: test) after each
	// install and upgrade; a failing test fails the install or upgrade.
	Test bool
	// InstallRetries and UpgradeRetries are how many times a failed
	// install or upgrade of one chart version and values is tried again
	// (Flux's install/upgrade.remediation.retries); negative: on every
	// pass, without end.
	InstallRetries, UpgradeRetries int
	// UpgradeStrategy is what remediates a failed upgrade: rollback (the
	// default) or uninstall.
	UpgradeStrategy string
}

// Upgrade remediation strategies.
const (
	StrategyRollback  = "rollback"
	StrategyUninstall = "uninstall"
)

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

// Failures counts the failed installs and upgrades towards one Target (a
// chart version and values), as Flux's HelmRelease status does; the
// caller keeps them between passes. A new target starts from zero.
type Failures struct {
	Target          string `json:"target,omitempty"`
	InstallFailures int    `json:"install_failures,omitempty"`
	UpgradeFailures int    `json:"upgrade_failures,omitempty"`
}

// Result is what a pass left.
type Result struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the release's revision, ChartVersion the chart's.
	Revision     int    `json:"revision,omitempty"`
	ChartVersion string `json:"chart_version,omitempty"`
	// Status is Helm's: deployed, failed...
	Status string `json:"status,omitempty"`
	// Action is what this pass did: installed, upgraded, unchanged,
	// rolled back, uninstalled (a remediation), or "" when it did nothing
	// because the retries are spent.
	Action string `json:"action,omitempty"`
	Failures
}

// Summary is the chart, revision and failures, for status lines.
func (r Result) Summary() string {
	var parts []string
	if r.ChartVersion != "" {
		parts = append(parts, fmt.Sprintf("chart %s, revision %d", r.ChartVersion, r.Revision))
	}
	if r.InstallFailures > 0 {
		parts = append(parts, fmt.Sprintf("%d failed install(s)", r.InstallFailures))
	}
	if r.UpgradeFailures > 0 {
		parts = append(parts, fmt.Sprintf("%d failed upgrade(s)", r.UpgradeFailures))
	}
	return strings.Join(parts, ", ")
}

// Releaser acts on one cluster.
type Releaser struct {
	// Kubeconfig and Context point Helm at the cluster, as helm's own
	// flags do; both "" is $KUBECONFIG or the in-cluster config.
	Kubeconfig, Context string
	// HTTP fetches index.yaml, chart archives and OCI charts.
	HTTP *http.Client
	// Hosts are the credentials and settings of chart hosts, by
	// host[:port].
	Hosts map[string]Host
	Log   *slog.Logger
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

// ErrRetriesExhausted is returned when the release failed at its target
// more often than its remediation retries allow: it is not tried again
// until git changes the chart version or the values.
var ErrRetriesExhausted = errors.New("retries exhausted")

// Reconcile brings the release to spec: nothing when it is there, else an
// install or an upgrade, tried again (after remediation) while the
// retries allow. prev is what the last pass returned in Result.Failures.
func (r *Releaser) Reconcile(ctx context.Context, spec Spec, data Data, prev Failures) (Result, error) {
	if spec.Timeout <= 0 {
		spec.Timeout = 5 * time.Minute
	}
	res := Result{Namespace: spec.Namespace, Name: spec.ReleaseName}
	ch, err := r.chart(ctx, spec)
	if err != nil {
		return res, err
	}
	vals, err := Values(ctx, spec, data)
	if err != nil {
		return res, err
	}
	cfg, err := r.config(spec.Namespace)
	if err != nil {
		return res, err
	}
	res.Failures = prev
	if target := ch.Metadata.Version + "/" + digest(vals)[:12]; prev.Target != target {
		res.Failures = Failures{Target: target}
	}
	for {
		cur, err := last(cfg, spec.ReleaseName)
		if err == nil && cur != nil && cur.Info.Status.IsPending() {
			err = r.unlock(cfg, spec, cur)
		}
		if err != nil {
			return res, err
		}
		if cur != nil && cur.Info.Status == rcommon.StatusDeployed && cur.Chart.Metadata.Version == ch.Metadata.Version && digest(cur.Config) == digest(vals) {
			res.set(cur, "unchanged")
			res.InstallFailures, res.UpgradeFailures = 0, 0
			return res, nil
		}
		install := cur == nil || cur.Info.Status == rcommon.StatusUninstalled
		failures, retries, verb, did := &res.UpgradeFailures, spec.UpgradeRetries, "upgrade", "upgraded"
		if install {
			failures, retries, verb, did = &res.InstallFailures, spec.InstallRetries, "install", "installed"
		}
		if retries >= 0 && *failures > retries {
			res.set(cur, "")
			return res, fmt.Errorf("helm: %s of %s to chart %s failed %d time(s): %w (%s.remediation.retries: %d); tried again once git changes the chart version or values",
				verb, spec.ReleaseName, ch.Metadata.Version, *failures, ErrRetriesExhausted, verb, retries)
		}
		var rel *release.Release
		if install {
			rel, err = r.install(ctx, cfg, spec, ch, vals)
		} else {
			rel, err = r.upgrade(ctx, cfg, spec, ch, vals)
		}
		if err == nil && spec.Test {
			err = r.test(cfg, spec)
		}
		if err == nil {
			res.set(rel, did)
			res.InstallFailures, res.UpgradeFailures = 0, 0
			return res, nil
		}
		*failures++
		r.Log.Warn("helm: "+verb+" failed; remediating", "release", spec.ReleaseName, "namespace", spec.Namespace, "failures", *failures, "err", err)
		done, rerr := r.remediate(cfg, spec, install)
		after, _ := last(cfg, spec.ReleaseName)
		res.set(after, done)
		if rerr != nil {
			return res, fmt.Errorf("helm: %s of %s to chart %s failed: %w; %s failed too: %v", verb, spec.ReleaseName, ch.Metadata.Version, err, done, rerr)
		}
		if retries < 0 || *failures > retries {
			// Out of retries, or retried on the next pass (unlimited).
			return res, fmt.Errorf("helm: %s of %s to chart %s failed (%d time(s)), %s: %w", verb, spec.ReleaseName, ch.Metadata.Version, *failures, done, err)
		}
	}
}

// unlock marks failed a revision left pending (pending-install,
// -upgrade, -rollback) by a Helm action that was cut short, as when
// Slipway was killed in its middle: Helm refuses any action on a release
// while its last revision is pending. One younger than the timeout may be
// another client's action under way: it is left alone, and the pass fails.
func (r *Releaser) unlock(cfg *action.Configuration, spec Spec, cur *release.Release) error {
	if age := time.Since(cur.Info.LastDeployed); age < spec.Timeout {
		return fmt.Errorf("helm: release %s: revision %d is %s since %s ago (another action under way?); waiting for it, at most %s",
			spec.ReleaseName, cur.Version, cur.Info.Status, age.Round(time.Second), spec.Timeout)
	}
	was := cur.Info.Status
	cur.SetStatus(rcommon.StatusFailed, fmt.Sprintf("left %s (its action was cut short); marked failed by Slipway", was))
	if err := cfg.Releases.Update(cur); err != nil {
		return fmt.Errorf("helm: release %s: marking revision %d failed: %w", spec.ReleaseName, cur.Version, err)
	}
	r.Log.Warn("helm: revision left pending marked failed", "release", spec.ReleaseName, "namespace", spec.Namespace, "revision", cur.Version, "status", was.String())
	return nil
}

// set records rel's revision; rel may be nil (no release left).
func (res *Result) set(rel *release.Release, act string) {
	res.Action = act
	res.Revision, res.ChartVersion, res.Status = 0, "", ""
	if rel != nil {
		res.Revision, res.ChartVersion, res.Status = rel.Version, rel.Chart.Metadata.Version, rel.Info.Status.String()
	}
}

// last is the release's newest revision, nil when it has none.
func last(cfg *action.Configuration, name string) (*release.Release, error) {
	l, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helm: release %s: %w", name, err)
	}
	rel, ok := l.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm: release %s: unsupported release type %T", name, l)
	}
	return rel, nil
}

func (spec Spec) wait() kube.WaitStrategy {
	if spec.DisableWait {
		return kube.HookOnlyStrategy
	}
	return kube.StatusWatcherStrategy
}

func (r *Releaser) install(ctx context.Context, cfg *action.Configuration, spec Spec, ch *chart.Chart, vals map[string]any) (*release.Release, error) {
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout, in.WaitStrategy = spec.ReleaseName, spec.Namespace, spec.Timeout, spec.wait()
	rel, err := in.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, fmt.Errorf("helm: install of %s failed: %w", spec.ReleaseName, err)
	}
	return asRelease(rel)
}

func (r *Releaser) upgrade(ctx context.Context, cfg *action.Configuration, spec Spec, ch *chart.Chart, vals map[string]any) (*release.Release, error) {
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.WaitStrategy, up.MaxHistory = spec.Namespace, spec.Timeout, spec.wait(), 10
	// Git wins: fields a hand-made `helm rollback` (manager helm) took
	// are taken back, as drift.
	up.ForceConflicts = true
	rel, err := up.RunWithContext(ctx, spec.ReleaseName, ch, vals)
	if err != nil {
		return nil, fmt.Errorf("helm: upgrade of %s failed: %w", spec.ReleaseName, err)
	}
	return asRelease(rel)
}

// test runs the release's test hooks, as helm test does; the error names
// the hooks (pods) that failed.
func (r *Releaser) test(cfg *action.Configuration, spec Spec) error {
	t := action.NewReleaseTesting(cfg)
	t.Namespace, t.Timeout = spec.Namespace, spec.Timeout
	rel, shutdown, err := t.Run(spec.ReleaseName)
	// shutdown deletes the hooks their delete policy names; after a
	// failure it returns that failure again.
	if serr := shutdown(); serr != nil && err == nil {
		r.Log.Warn("helm: deleting test hooks", "release", spec.ReleaseName, "err", serr)
	}
	if err == nil {
		return nil
	}
	var failed []string
	if v1, ok := rel.(*release.Release); ok {
		for _, h := range v1.Hooks {
			if slices.Contains(h.Events, release.HookTest) && h.LastRun.Phase == release.HookPhaseFailed {
				failed = append(failed, h.Kind+"/"+h.Name)
			}
		}
	}
	if len(failed) == 0 {
		return fmt.Errorf("helm: test of %s failed: %w", spec.ReleaseName, err)
	}
	return fmt.Errorf("helm: test of %s failed: %s: %w", spec.ReleaseName, strings.Join(failed, ", "), err)
}

// remediate undoes a failed attempt: a failed install is uninstalled, so
// the next attempt starts afresh; a failed upgrade is rolled back to the
// revision before it, or uninstalled. It returns what it did.
func (r *Releaser) remediate(cfg *action.Configuration, spec Spec, install bool) (string, error) {
	if install || spec.UpgradeStrategy == StrategyUninstall {
		un := action.NewUninstall(cfg)
		un.Timeout, un.WaitStrategy, un.IgnoreNotFound = spec.Timeout, kube.StatusWatcherStrategy, true
		_, err := un.Run(spec.ReleaseName)
		return "uninstalled", err
	}
	rb := action.NewRollback(cfg)
	rb.Timeout, rb.WaitStrategy, rb.MaxHistory, rb.ForceConflicts = spec.Timeout, spec.wait(), 10, true
	return "rolled back", rb.Run(spec.ReleaseName) // 0: the previous revision
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
	res := Result{Namespace: namespace, Name: releaseName}
	cfg, err := r.config(namespace)
	if err != nil {
		return res, err
	}
	rel, err := last(cfg, releaseName)
	if err == nil && rel == nil {
		err = fmt.Errorf("helm: release %s: %w", releaseName, driver.ErrReleaseNotFound)
	}
	if err != nil {
		return res, err
	}
	res.set(rel, "")
	return res, nil
}

func asRelease(rel any) (*release.Release, error) {
	r, ok := rel.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm: unsupported release type %T", rel)
	}
	return r, nil
}
