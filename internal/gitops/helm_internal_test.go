package gitops

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
	"github.com/slipway-cd/slipway/internal/gitops/render"
)

func helmObject(t *testing.T, spec string) render.Object {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte("apiVersion: gitops.slipway.dev/v1\nkind: HelmRelease\nmetadata: {name: web}\nspec:\n"+spec), &m); err != nil {
		t.Fatal(err)
	}
	return render.Object{Unstructured: &unstructured.Unstructured{Object: m}, Origin: "apps/web.yaml:1"}
}

// TestHelmSpecReadsFluxFields: an OCI chart, test hooks and remediation
// read as Flux's HelmRelease writes them; mistakes name the file and the
// field.
func TestHelmSpecReadsFluxFields(t *testing.T) {
	s, err := helmSpec(helmObject(t, `  chart: {repoURL: "oci://127.0.0.1:5000/charts", name: web, version: 4.0.x}
  test: {enable: true}
  install: {remediation: {retries: 2}}
  upgrade: {remediation: {retries: -1, strategy: uninstall}}
`), "/co", "apps", time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Test || s.InstallRetries != 2 || s.UpgradeRetries != -1 || s.UpgradeStrategy != helmrelease.StrategyUninstall || s.DisableWait || s.Namespace != "apps" {
		t.Errorf("spec: %+v", s)
	}
	if got := helmrelease.OCIRef(s.RepoURL, s.Chart); got != "127.0.0.1:5000/charts/web" {
		t.Errorf("OCI reference %s", got)
	}
	if s, err := helmSpec(helmObject(t, "  chart: {repoURL: \"oci://h/c/web\"}\n"), "/co", "apps", time.Minute, false); err != nil || s.UpgradeStrategy != helmrelease.StrategyRollback || !s.DisableWait {
		t.Errorf("oci URL naming the chart, wait off: %v %+v", err, s)
	}
	for spec, want := range map[string]string{
		"  chart: {repoURL: \"oci://registry.example.com\", name: \"\"}\n":                            "apps/web.yaml:1: HelmRelease/web: spec.chart.repoURL: want oci://host/repository",
		"  chart: {repoURL: \"https://x\", name: web}\n  upgrade: {remediation: {strategy: retry}}\n": `apps/web.yaml:1: HelmRelease/web: spec.upgrade.remediation.strategy: want rollback or uninstall, got "retry"`,
	} {
		if _, err := helmSpec(helmObject(t, spec), "/co", "apps", time.Minute, true); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %v\nwant prefix %s", err, want)
		}
	}
}

// TestHelmRegistriesCredentialsFromTheEnvironment: the config names the
// variable; its value is split into user and password; a missing
// variable is an error naming it, never a value.
func TestHelmRegistriesCredentialsFromTheEnvironment(t *testing.T) {
	cfg, err := ParseConfig("f.yaml", []byte(`sources: [{name: ops, url: /srv/ops.git}]
deployments:
  - name: apps
    source: ops
    kubernetes:
      helmRegistries:
        - {host: "registry.example.com:5000", credentials_ref: env:CHARTS, plainHTTP: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Deployments[0].Kubernetes
	hosts, err := k.helmHosts(func(string) string { return "ci:pa:ss" })
	if h := hosts["registry.example.com:5000"]; err != nil || h.Username != "ci" || h.Password != "pa:ss" || !h.PlainHTTP {
		t.Errorf("hosts: %v %+v", err, hosts)
	}
	if _, err := k.helmHosts(func(string) string { return "" }); err == nil || err.Error() != "helmRegistries registry.example.com:5000: credentials_ref: $CHARTS is not set" {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := k.helmHosts(func(string) string { return "token-without-user" }); err == nil || strings.Contains(err.Error(), "token-without-user") {
		t.Errorf("a value that is no user:password: %v", err)
	}
	for yamlText, want := range map[string]string{
		"{host: \"https://registry.example.com\"}": `f.yaml:6:31: deployments[0].kubernetes.helmRegistries[0].host: want host or host:port (no scheme, no path)`,
		"{host: r, credentials_ref: CHARTS}":       `f.yaml:6:51: deployments[0].kubernetes.helmRegistries[0].credentials_ref: want env:NAME`,
		"{host: r, password: x}":                   `f.yaml:6:34: deployments[0].kubernetes.helmRegistries[0].password: unknown key`,
		"{credentials_ref: env:X}":                 `f.yaml:6:24: deployments[0].kubernetes.helmRegistries[0].host: required`,
	} {
		_, err := ParseConfig("f.yaml", []byte("sources: [{name: ops, url: /srv/ops.git}]\ndeployments:\n  - name: apps\n    source: ops\n    kubernetes:\n      helmRegistries: ["+yamlText+"]\n"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %v\nwant prefix %s", err, want)
		}
	}
}
