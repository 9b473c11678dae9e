//go:build kube

package gitops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/gitops/helmrelease/helmtest"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// helmRelease is a HelmRelease object of the chart "web" at repoURL.
func helmRelease(repoURL, version, message string) string {
	return fmt.Sprintf(`apiVersion: gitops.slipway.dev/v1
kind: HelmRelease
metadata:
  name: web
spec:
  chart: {repoURL: %q, name: web, version: %q}
  values:
    env: {MESSAGE: %q}
  timeout: 90s
`, repoURL, version, message)
}

const appsDeployment = `  - name: apps
    source: ops
    path: apps
    prune: true
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
`

// message is the MESSAGE the web Deployment's pods get.
func (k *kubeFixture) message(name string) string {
	for _, e := range k.deployment(name).Spec.Template.Spec.Containers[0].Env {
		if e.Name == "MESSAGE" {
			return e.Value
		}
	}
	return ""
}

// TestKubeHelmCLIHelper is Helm's own CLI when helmtest.Helm starts the
// test binary; it does nothing in a normal run.
func TestKubeHelmCLIHelper(t *testing.T) { helmtest.RunHelm() }

func helmCLI(t *testing.T, args ...string) string {
	t.Helper()
	return helmtest.Helm(t, "TestKubeHelmCLIHelper", kubetest.Kubeconfig(), args...)
}

// TestKubeHelmCLISeesAndRollsBackSlipwaysRelease: helm's own CLI, built
// from the same module, lists Slipway's release and its history and
// rolls it back; Slipway's next pass takes the rollback for drift and
// upgrades back to what git says. The deployment's summary counts the
// release.
func TestKubeHelmCLISeesAndRollsBackSlipwaysRelease(t *testing.T) {
	k := newKubeFixture(t)
	repoURL := helmtest.ChartRepo(t, "4.0.2", "4.0.3")
	src := newSource(t, map[string]string{"apps/web.yaml": helmRelease(repoURL, "4.0.x", "one"), "apps/cm.yaml": configMapManifest("settings", "x")})
	c, _ := k.controller(k.config(src, appsDeployment))
	if st, err := reconcile(t, c, "apps"); err != nil || st.Condition != gitops.Ready {
		t.Fatalf("first pass: %v\n%+v", err, st)
	}
	rev := src.commit("two", map[string]string{"apps/web.yaml": helmRelease(repoURL, "4.0.x", "two")})
	st, err := reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready || k.message("web") != "two" {
		t.Fatalf("second pass: %v\n%+v", err, st)
	}
	if want := "1 object(s) and 1 Helm release(s) at " + rev[:12]; st.Message != want {
		t.Errorf("summary %q, want %q", st.Message, want)
	}

	var list []struct{ Name, Namespace, Revision, Status, Chart string }
	if err := json.Unmarshal([]byte(helmCLI(t, "list", "-n", k.ns, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "web" || list[0].Revision != "2" || list[0].Status != "deployed" || list[0].Chart != "web-4.0.3" {
		t.Errorf("helm list: %+v", list)
	}
	type revision struct {
		Revision            int
		Status, Description string
	}
	var hist []revision
	if err := json.Unmarshal([]byte(helmCLI(t, "history", "web", "-n", k.ns, "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Status != "superseded" || hist[1].Status != "deployed" {
		t.Errorf("helm history: %+v", hist)
	}

	// The fields are Slipway's (its field manager): a rollback by hand
	// takes them with --force-conflicts, as docs/gitops.md says.
	managers := func() (names []string) {
		for _, f := range k.deployment("web").ManagedFields {
			names = append(names, f.Manager)
		}
		return names
	}
	if m := managers(); !slices.Contains(m, "slipway") {
		t.Errorf("field managers of the release's Deployment: %v, want slipway", m)
	}
	helmCLI(t, "rollback", "web", "1", "-n", k.ns, "--force-conflicts")
	if got := k.message("web"); got != "one" {
		t.Fatalf("after helm rollback MESSAGE is %q, want one", got)
	}
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass after helm rollback: %v\n%+v", err, st)
	}
	if rel := objectStatus(t, st, "HelmRelease", "web"); rel.Action != "upgraded" || rel.Message != "chart 4.0.3, revision 4" {
		t.Errorf("release after helm rollback: %+v", rel)
	}
	if got := k.message("web"); got != "two" {
		t.Errorf("MESSAGE after Slipway's pass is %q, want two (git's)", got)
	}
	hist = nil
	if err := json.Unmarshal([]byte(helmCLI(t, "history", "web", "-n", k.ns, "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || !strings.Contains(hist[2].Description, "Rollback to 1") || hist[3].Status != "deployed" {
		t.Errorf("helm history after the correction: %+v", hist)
	}
}

// TestKubeHelmReleaseFromSlipwaysRegistry: a chart pushed to Slipway's
// own registry (which wants a login) installs by range from oci://, with
// the credentials the config names; without them the deployment stalls
// saying why; the password shows in no log and no status. A commit
// bumping the range upgrades to the newest matching tag.
func TestKubeHelmReleaseFromSlipwaysRegistry(t *testing.T) {
	k := newKubeFixture(t)
	const password = "chart-pw-7f3a9c"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, host := registrytest.Start(t, &registry.Auth{Users: map[string][]byte{"ci": hash}, Realm: "slipway"})
	charts := helmtest.PushCharts(t, host, "ci", password, "4.0.2", "4.0.3", "4.1.0")
	src := newSource(t, map[string]string{"apps/web.yaml": helmRelease(charts, "4.0.x", "oci")})

	var logs testenv.Buffer
	start := func(extra string) (*gitops.Controller, string) {
		cfg, err := gitops.ParseConfig("slipway-gitops.yaml", []byte(k.config(src, appsDeployment+extra)))
		if err != nil {
			t.Fatal(err)
		}
		state := t.TempDir()
		c, err := gitops.New(gitops.Options{Config: cfg, StateDir: state,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Getenv: func(name string) string {
				if name == "SLIPWAY_TEST_CHARTS" {
					return "ci:" + password
				}
				return ""
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c, state
	}

	anon, _ := start("")
	st, err := reconcile(t, anon, "apps")
	if err == nil || st.Condition != gitops.Stalled || !strings.Contains(st.Message, "oci://"+host+"/charts/web") {
		t.Fatalf("pass without credentials: %v\n%+v", err, st)
	}
	t.Logf("without credentials: %s", st.Message)
	anon.Close(context.Background())

	c, state := start(`      helmRegistries:
        - host: ` + host + `
          credentials_ref: env:SLIPWAY_TEST_CHARTS
`)
	st, err = reconcile(t, c, "apps")
	if err != nil || st.Condition != gitops.Ready {
		t.Fatalf("pass with credentials: %v\n%+v", err, st)
	}
	if rel := objectStatus(t, st, "HelmRelease", "web"); rel.Action != "installed" || rel.Message != "chart 4.0.3, revision 1" {
		t.Errorf("release from the registry: %+v", rel)
	}
	if got := k.deployment("web").Labels["chart"]; got != "4.0.3" || k.message("web") != "oci" {
		t.Errorf("chart on the cluster: %s", got)
	}
	src.commit("bump", map[string]string{"apps/web.yaml": helmRelease(charts, "4.1.x", "oci")})
	st, err = reconcile(t, c, "apps")
	if rel := objectStatus(t, st, "HelmRelease", "web"); err != nil || rel.Action != "upgraded" || rel.Message != "chart 4.1.0, revision 2" {
		t.Errorf("release after the bump: %v %+v", err, rel)
	}

	status, err := os.ReadFile(filepath.Join(state, "status", "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), password) || strings.Contains(string(status), password) {
		t.Errorf("the registry password is in the logs or the status")
	}
}

// TestKubeHelmReleaseTimeout: the deployment's timeout bounds a release
// that never gets ready (Helm's wait): the pass fails after it, not after
// Helm's default five minutes, and says which object was not ready.
func TestKubeHelmReleaseTimeout(t *testing.T) {
	k := newKubeFixture(t)
	repoURL := helmtest.ChartRepo(t, "4.0.3")
	never := `apiVersion: gitops.slipway.dev/v1
kind: HelmRelease
metadata:
  name: web
spec:
  chart: {repoURL: "` + repoURL + `", name: web, version: 4.0.x}
  values: {image: "slipway.local/absent:never"}
`
	src := newSource(t, map[string]string{"apps/web.yaml": never})
	c, _ := k.controller(k.config(src, appsDeployment+"      timeout: 8s\n"))
	begin := time.Now()
	st, err := reconcile(t, c, "apps")
	took := time.Since(begin)
	if err == nil || st.Condition != gitops.Stalled {
		t.Fatalf("pass: %v\n%+v", err, st)
	}
	rel := objectStatus(t, st, "HelmRelease", "web")
	if !strings.Contains(rel.Message, "install of web failed") || !strings.Contains(rel.Message, "1 failed install(s)") {
		t.Errorf("release: %+v", rel)
	}
	// 8s for the install's wait, then the uninstall of the failed install.
	if took > 90*time.Second {
		t.Errorf("the pass took %s with an 8s timeout", took)
	}
	t.Logf("pass took %s: %s", took, rel.Message)
}
