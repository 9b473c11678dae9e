//go:build kube

package gitops_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/gitops/helmrelease/helmtest"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// kubeFixture is a namespace of the real cluster and a client-go client
// to look at it as a user would with kubectl.
type kubeFixture struct {
	t  *testing.T
	ns string
	cl client.Client
}

func newKubeFixture(t *testing.T) *kubeFixture {
	t.Helper()
	ns := kubetest.Namespace(t, kubetest.Cluster(t))
	cl, err := kube.Connect(kube.Target{Kubeconfig: kubetest.Kubeconfig()})
	if err != nil {
		t.Fatal(err)
	}
	return &kubeFixture{t: t, ns: ns, cl: cl.Client}
}

// config is a one-source config whose deployments go to the fixture's
// namespace; extra is added to each deployment's kubernetes block.
func (k *kubeFixture) config(src *gitSource, deployments string) string {
	return strings.NewReplacer("{source}", src.bare, "{kubeconfig}", kubetest.Kubeconfig(), "{ns}", k.ns).Replace(`sources:
  - name: ops
    url: {source}
    branch: main
deployments:
` + deployments)
}

// controller starts a controller on yamlText with its own state folder
// (its own installation id).
func (k *kubeFixture) controller(yamlText string) (*gitops.Controller, string) {
	k.t.Helper()
	cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(yamlText))
	if err != nil {
		k.t.Fatal(err)
	}
	state := k.t.TempDir()
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: state, Logger: quiet()})
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { c.Close(context.Background()) })
	return c, state
}

func (k *kubeFixture) deployment(name string) *appsv1.Deployment {
	k.t.Helper()
	var d appsv1.Deployment
	if err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &d); err != nil {
		k.t.Fatalf("deployment %s: %v", name, err)
	}
	return &d
}

func (k *kubeFixture) configMap(name string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &cm)
	return &cm, err
}

// webManifest is a Deployment of busybox httpd whose pods start at once.
func webManifest(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: %[3]s
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080"]
`, name, replicas, kubetest.BusyboxImage)
}

func configMapManifest(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func objectStatus(t *testing.T, st gitops.DeploymentStatus, kind, name string) kube.ObjectStatus {
	t.Helper()
	for _, o := range st.Objects {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("deployment %s has no object %s/%s: %+v", st.Name, kind, name, st.Objects)
	return kube.ObjectStatus{}
}

// TestKubeManifestsApplyDriftAndPrune: a folder of plain manifests goes to
// the cluster healthy; a second pass writes nothing; a Deployment scaled
// by hand comes back; an object that left git is pruned, and one of
// another deployment with the same name is not touched.
func TestKubeManifestsApplyDriftAndPrune(t *testing.T) {
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{
		"apps/web.yaml":      webManifest("web", 1),
		"apps/settings.yaml": configMapManifest("settings", "one") + "---\n" + configMapManifest("extra", "x"),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
      timeout: 2m
`))
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready || st.Target != gitops.TargetKubernetes {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	if web := objectStatus(t, st, "Deployment", "web"); web.Action != "created" || web.Health != "Current" {
		t.Errorf("web after the first pass: %+v", web)
	}
	if d := k.deployment("web"); d.Status.AvailableReplicas != 1 || d.Labels[kube.LabelDeployment] != "apps" || d.Labels[kube.LabelInstallation] == "" {
		t.Errorf("web on the cluster: available %d, labels %v", d.Status.AvailableReplicas, d.Labels)
	}
	rv := k.deployment("web").ResourceVersion

	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("second pass: %v\n%+v", err, st)
	}
	for _, o := range st.Objects {
		if o.Action != "unchanged" {
			t.Errorf("a pass without change wrote %s: %s", o.Ref, o.Action)
		}
	}
	if got := k.deployment("web").ResourceVersion; got != rv {
		t.Errorf("a pass without change changed the Deployment: resourceVersion %s -> %s", rv, got)
	}

	// kubectl scale, as a user would.
	d := k.deployment("web")
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":3}}`))
	if err := k.cl.SubResource("scale").Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	if n := *k.deployment("web").Spec.Replicas; n != 3 {
		t.Fatalf("scaled by hand to %d, want 3", n)
	}
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass after the drift: %v\n%+v", err, st)
	}
	if web := objectStatus(t, st, "Deployment", "web"); web.Action != "configured" {
		t.Errorf("web after the drift: %+v", web)
	}
	if n := *k.deployment("web").Spec.Replicas; n != 1 {
		t.Errorf("drift not corrected: %d replicas, git says 1", n)
	}

	src.commit("drop extra", map[string]string{"apps/settings.yaml": configMapManifest("settings", "two")})
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass after the removal: %v\n%+v", err, st)
	}
	if _, err := k.configMap("extra"); !apierrors.IsNotFound(err) {
		t.Errorf("extra left git but is still there (err %v)", err)
	}
	if o := objectStatus(t, st, "ConfigMap", "extra"); o.Action != "deleted" {
		t.Errorf("extra's status: %+v", o)
	}
	if cm, err := k.configMap("settings"); err != nil || cm.Data["value"] != "two" {
		t.Errorf("settings: %v %v", cm.Data, err)
	}
	for _, r := range st.Inventory {
		if r.Name == "extra" {
			t.Errorf("pruned object still in the inventory: %+v", st.Inventory)
		}
	}
}

// TestKubeFailedApplyKeepsThePreviousState: a commit with one object the
// API refuses changes nothing of the others and prunes nothing; the
// deployment is Stalled with the API's error until a good commit.
func TestKubeFailedApplyKeepsThePreviousState(t *testing.T) {
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{
		"apps/settings.yaml": configMapManifest("settings", "one"),
		"apps/old.yaml":      configMapManifest("old", "x"),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`))
	if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	bad := webManifest("web", 1) + "  minReadySeconds: -5\n" // the API refuses a negative value
	src.commit("broken", map[string]string{
		"apps/settings.yaml": configMapManifest("settings", "two"),
		"apps/old.yaml":      "",
		"apps/web.yaml":      bad,
	})
	st, err := reconcile(t, c, "apps")
	if err == nil || st.Condition != gitops.Stalled || st.Reason != gitops.ReasonDeployFailed || !strings.Contains(st.Message, "minReadySeconds") {
		t.Fatalf("broken commit: %v\n%+v", err, st)
	}
	if cm, err := k.configMap("settings"); err != nil || cm.Data["value"] != "one" {
		t.Errorf("settings changed by a failed pass: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("old"); err != nil {
		t.Errorf("old pruned by a failed pass: %v", err)
	}
	src.commit("fixed", map[string]string{"apps/web.yaml": webManifest("web", 1)})
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("fixed commit: %v\n%+v", err, st)
	}
	if cm, err := k.configMap("settings"); err != nil || cm.Data["value"] != "two" {
		t.Errorf("settings after the fix: %v %v", cm.Data, err)
	}
	if _, err := k.configMap("old"); !apierrors.IsNotFound(err) {
		t.Errorf("old not pruned after the fix: %v", err)
	}
}

// TestKubeTwoInstallationsLeaveEachOtherAlone: two controllers (two
// installations) with a deployment of the same name in one namespace.
// Each prunes its own objects only; an object the other took over last is
// left to it.
func TestKubeTwoInstallationsLeaveEachOtherAlone(t *testing.T) {
	k := newKubeFixture(t)
	srcA := newSource(t, map[string]string{"apps/a.yaml": configMapManifest("a", "1") + "---\n" + configMapManifest("shared", "from a")})
	srcB := newSource(t, map[string]string{"apps/b.yaml": configMapManifest("b", "1") + "---\n" + configMapManifest("shared", "from b")})
	dep := `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`
	a, _ := k.controller(k.config(srcA, dep))
	b, _ := k.controller(k.config(srcB, dep))
	for _, c := range []*gitops.Controller{a, b} {
		if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
			t.Fatalf("first passes: %v\n%+v", err, st)
		}
	}
	shared, _ := k.configMap("shared")
	if shared.Data["value"] != "from b" {
		t.Fatalf("shared: %v", shared.Data)
	}
	srcA.commit("a drops its objects", map[string]string{"apps/a.yaml": configMapManifest("a2", "1")})
	st, err := reconcile(t, a, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("a's pass: %v\n%+v", err, st)
	}
	if _, err := k.configMap("a"); !apierrors.IsNotFound(err) {
		t.Errorf("a's own object not pruned: %v", err)
	}
	if _, err := k.configMap("shared"); err != nil {
		t.Errorf("a pruned the object b owns now: %v", err)
	}
	if o := objectStatus(t, st, "ConfigMap", "shared"); o.Action != "skipped" {
		t.Errorf("shared in a's status: %+v", o)
	}
	if st, err := reconcile(t, b, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("b's pass: %v\n%+v", err, st)
	}
	for _, name := range []string{"a2", "b", "shared"} {
		if _, err := k.configMap(name); err != nil {
			t.Errorf("%s after both passes: %v", name, err)
		}
	}
}

// TestKubeCRDAndNamespaceComeFirst: one folder holds a CRD, a custom
// resource of it, a namespace and an object in it, in the wrong order in
// the files; one pass applies them all.
func TestKubeCRDAndNamespaceComeFirst(t *testing.T) {
	k := newKubeFixture(t)
	suffix := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	group := "t" + suffix + ".slipway.test"
	ns := "t-ns-" + suffix
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`, group)
	src := newSource(t, map[string]string{
		"apps/a-widget.yaml": fmt.Sprintf("apiVersion: %s/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n", group),
		"apps/b-in-ns.yaml":  fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: %s\n", ns),
		"apps/c-crd.yaml":    crd,
		"apps/d-ns.yaml":     fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`))
	t.Cleanup(func() {
		// Pruning all is the cleanup: the CRD and the namespace are
		// cluster-wide.
		src.commit("empty", map[string]string{"apps/a-widget.yaml": "", "apps/b-in-ns.yaml": "", "apps/c-crd.yaml": "", "apps/d-ns.yaml": "", "apps/keep.yaml": configMapManifest("keep", "x")})
		if st, err := reconcile(t, c, "apps"); err != nil {
			t.Errorf("cleanup: %v\n%+v", err, st)
		}
	})
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass: %v\n%+v", err, st)
	}
	w := &unstructured.Unstructured{}
	w.SetAPIVersion(group + "/v1")
	w.SetKind("Widget")
	if err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: "w"}, w); err != nil {
		t.Errorf("the widget: %v", err)
	}
	var cm corev1.ConfigMap
	if err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "inside"}, &cm); err != nil {
		t.Errorf("the object in the new namespace: %v", err)
	}
}

// TestKubeKustomizeWithSubstitutionFromTheCluster: a Kustomize overlay is
// built, its ${VAR}s filled from a ConfigMap, a Secret and inline values
// (inline wins, later sources win), defaults used; a variable with no
// value stalls the deployment with its name and file and changes nothing.
func TestKubeKustomizeWithSubstitutionFromTheCluster(t *testing.T) {
	k := newKubeFixture(t)
	ctx := context.Background()
	vars := &corev1.ConfigMap{}
	vars.Name, vars.Namespace = "vars", k.ns
	vars.Data = map[string]string{"TIER": "gold", "REGION": "from-configmap"}
	secret := &corev1.Secret{}
	secret.Name, secret.Namespace = "secret-vars", k.ns
	secret.StringData = map[string]string{"REGION": "from-secret", "TOKEN": "s3cr3t"}
	for _, o := range []client.Object{vars, secret} {
		if err := k.cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	src := newSource(t, map[string]string{
		"base/kustomization.yaml": "resources: [cm.yaml]\n",
		"base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n" +
			"  tier: ${TIER}\n  region: ${REGION}\n  token: ${TOKEN}\n  size: ${SIZE:=small}\n  env: ${ENV}\n",
		"prod/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\n",
	})
	c, _ := k.controller(k.config(src, `  - name: apps
    source: ops
    path: prod
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
      postBuild:
        substitute: {ENV: production, TIER: inline}
        substituteFrom:
          - {kind: ConfigMap, name: vars}
          - {kind: Secret, name: secret-vars}
          - {kind: ConfigMap, name: absent, optional: true}
`))
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass: %v\n%+v", err, st)
	}
	cm, err := k.configMap("prod-settings")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tier": "inline", "region": "from-secret", "token": "s3cr3t", "size": "small", "env": "production"}
	for key, v := range want {
		if cm.Data[key] != v {
			t.Errorf("%s = %q, want %q (all: %v)", key, cm.Data[key], v, cm.Data)
		}
	}

	src.commit("a variable nobody sets", map[string]string{"base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  tier: ${TIER}\n  zone: ${ZONE}\n"})
	st, err = reconcile(t, c, "apps")
	if err == nil || st.Condition != gitops.Stalled || !strings.Contains(st.Message, `"ZONE"`) || !strings.Contains(st.Message, "prod/kustomization.yaml") {
		t.Fatalf("unset variable: %v\n%+v", err, st)
	}
	if cm, _ := k.configMap("prod-settings"); cm.Data["env"] != "production" {
		t.Errorf("a failed render changed the object: %v", cm.Data)
	}
	if strings.Contains(st.Message, "s3cr3t") {
		t.Errorf("the status shows a secret value: %s", st.Message)
	}
}

// TestKubeHelperProcess is the controller that
// TestKubeKilledMidApplyConverges kills: it runs one pass of the config
// in $SLIPWAY_KUBE_HELPER_CONFIG on the state folder
// $SLIPWAY_KUBE_HELPER_STATE. It does nothing in a normal run.
func TestKubeHelperProcess(t *testing.T) {
	cfgFile, state := os.Getenv("SLIPWAY_KUBE_HELPER_CONFIG"), os.Getenv("SLIPWAY_KUBE_HELPER_STATE")
	if cfgFile == "" {
		return
	}
	cfg, err := gitops.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: state, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c.ReconcileAll(context.Background())
}

// TestKubeKilledMidApplyConverges: a controller killed with SIGKILL in
// the middle of applying many objects; a new one on the same state folder
// converges: every object there, and those the killed one had written not
// written again.
func TestKubeKilledMidApplyConverges(t *testing.T) {
	k := newKubeFixture(t)
	const n = 200
	var many strings.Builder
	for i := range n {
		fmt.Fprintf(&many, "---\n%s", configMapManifest(fmt.Sprintf("cm-%03d", i), "v"))
	}
	src := newSource(t, map[string]string{"apps/many.yaml": many.String()})
	yamlText := k.config(src, `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`)
	dir := t.TempDir()
	cfgFile, state := filepath.Join(dir, "slipway-gitops.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(cfgFile, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKubeHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLIPWAY_KUBE_HELPER_CONFIG="+cfgFile, "SLIPWAY_KUBE_HELPER_STATE="+state)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	count := func() map[string]string {
		var list corev1.ConfigMapList
		if err := k.cl.List(context.Background(), &list, client.InNamespace(k.ns), client.MatchingLabels{kube.LabelDeployment: "apps"}); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, cm := range list.Items {
			out[cm.Name] = cm.ResourceVersion
		}
		return out
	}
	var before map[string]string
	kubetest.Eventually(t, 3*time.Minute, "the helper applies some objects", func(ctx context.Context) error {
		select {
		case err := <-done:
			t.Fatalf("the helper ended before it was killed: %v", err)
		default:
		}
		if before = count(); len(before) < 5 {
			return fmt.Errorf("%d objects", len(before))
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	before = count() // what the killed controller wrote, settled
	if len(before) == n {
		t.Fatalf("the helper applied all %d objects before it was killed: the test proves nothing", n)
	}
	st, err := gitops.ReadStatus(state, "apps")
	if err != nil || st.Condition != gitops.Reconciling {
		t.Errorf("status left by the killed controller: %v %+v", err, st.Condition)
	}

	cfg, err := gitops.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: state, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass after the kill: %v\n%+v", err, st)
	}
	after := count()
	if len(after) != n {
		t.Errorf("%d objects after the new pass, want %d", len(after), n)
	}
	for name, rv := range before {
		if after[name] != rv {
			t.Errorf("%s was written again: resourceVersion %s -> %s", name, rv, after[name])
		}
	}
	t.Logf("killed after %d of %d objects", len(before), n)
}

// TestKubeHelmReleaseFollowsCommits: a HelmRelease object in the folder
// installs its chart from a Helm repository by range; a commit bumping the
// range to 4.1.x upgrades it; a commit removing it uninstalls it (prune).
func TestKubeHelmReleaseFollowsCommits(t *testing.T) {
	k := newKubeFixture(t)
	repoURL := helmtest.ChartRepo(t, "4.0.2", "4.0.3", "4.1.0")
	release := func(version, message string) string { return helmRelease(repoURL, version, message) }
	src := newSource(t, map[string]string{"apps/web.yaml": release("4.0.x", "one"), "apps/cm.yaml": configMapManifest("settings", "x")})
	c, _ := k.controller(k.config(src, appsDeployment))
	chartOf := func() string {
		d := k.deployment("web")
		return d.Labels["chart"]
	}
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	if rel := objectStatus(t, st, "HelmRelease", "web"); rel.Action != "installed" || rel.Health != "deployed" || rel.Message != "chart 4.0.3, revision 1" {
		t.Errorf("release after the first pass: %+v", rel)
	}
	if got := chartOf(); got != "4.0.3" {
		t.Errorf("chart on the cluster: %s, want 4.0.3", got)
	}
	if st, err := reconcile(t, c, "apps"); err != nil || objectStatus(t, st, "HelmRelease", "web").Action != "unchanged" {
		t.Errorf("pass without change: %v %+v", err, st.Objects)
	}
	src.commit("bump", map[string]string{"apps/web.yaml": release("4.1.x", "one")})
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("bump: %v\n%+v", err, st)
	}
	if rel := objectStatus(t, st, "HelmRelease", "web"); rel.Action != "upgraded" || rel.Message != "chart 4.1.0, revision 2" {
		t.Errorf("release after the bump: %+v", rel)
	}
	if got := chartOf(); got != "4.1.0" {
		t.Errorf("chart on the cluster after the bump: %s", got)
	}
	src.commit("remove", map[string]string{"apps/web.yaml": ""})
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("removal: %v\n%+v", err, st)
	}
	if rel := objectStatus(t, st, "HelmRelease", "web"); rel.Action != "deleted" {
		t.Errorf("release after its removal: %+v", rel)
	}
	var d appsv1.Deployment
	if err := k.cl.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: "web"}, &d); !apierrors.IsNotFound(err) {
		t.Errorf("the release's Deployment after uninstall: %v", err)
	}
}
