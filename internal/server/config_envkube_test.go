package server

import (
	"strings"
	"testing"
)

func TestEnvironmentsTargetKubernetesLoads(t *testing.T) {
	c, err := loadConfigText(t, "environments:\n  enabled: true\n  target: kubernetes\n  kubernetes: {kubeconfig: /etc/slipway/kube.yaml, context: review, namespace_prefix: shop-}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := EnvironmentsKubernetes{Kubeconfig: "/etc/slipway/kube.yaml", Context: "review", NamespacePrefix: "shop-"}
	if c.Environments.Target != "kubernetes" || c.Environments.Kubernetes != want {
		t.Fatalf("environments = %+v", c.Environments)
	}
}

func TestEnvironmentsTargetErrorsHavePositions(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"environments:\n  target: k8s\n", `slipway.yml:2:11: environments.target "k8s": want docker or kubernetes`},
		{"environments:\n  target: kubernetes\n  kubernetes: {namespace_prefix: Shop_}\n", `slipway.yml:3:34: environments.kubernetes.namespace_prefix "Shop_": want at most 30`},
		{"environments:\n  kubernetes: {context: x}\n", `slipway.yml:2:15: environments.kubernetes: set, but environments.target is not kubernetes`},
		{"environments:\n  kubernetes: {contxt: x}\n", `slipway.yml:2:16: environments.kubernetes: unknown key "contxt"`},
	} {
		_, err := loadConfigText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want ...%s", c.text, err, c.want)
		}
	}
}
