package deploy

import (
	"strings"
	"testing"
)

func TestConfigKubernetesSectionRunsTheTargetsOnACluster(t *testing.T) {
	cfg, err := ParseConfig("/srv/app/deploy.yaml", []byte(`
kubernetes: {kubeconfig: kube/admin.yaml, context: staging, namespace_prefix: shop-}
targets:
  production: {compose: compose.yaml, strategy: canary}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := KubernetesConfig{Kubeconfig: "/srv/app/kube/admin.yaml", Context: "staging", NamespacePrefix: "shop-"}
	if cfg.Kubernetes == nil || *cfg.Kubernetes != want {
		t.Fatalf("kubernetes = %+v, want %+v", cfg.Kubernetes, want)
	}
	plain, err := ParseConfig("deploy.yaml", []byte("targets:\n  p: {compose: c.yaml, strategy: rolling}\n"))
	if err != nil || plain.Kubernetes != nil {
		t.Fatalf("without the section: %+v %v, want the Docker engine", plain.Kubernetes, err)
	}
}

func TestConfigKubernetesErrorsNameFileLineColumnAndKey(t *testing.T) {
	targets := "targets:\n  p: {compose: c.yaml, strategy: rolling}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"kubernetes: {contxt: x}\n" + targets, "deploy.yaml:1:22: kubernetes.contxt: unknown key (known: kubeconfig, context, namespace_prefix)"},
		{"kubernetes: {namespace_prefix: Shop_}\n" + targets, `deploy.yaml:1:32: kubernetes.namespace_prefix: "Shop_": want at most 30`},
		{"kubernetes: yes\n" + targets, "deploy.yaml:1:13: kubernetes: want a mapping"},
	} {
		_, err := ParseConfig("deploy.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}
