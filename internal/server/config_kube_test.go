package server

import (
	"strings"
	"testing"
	"time"
)

// The kubernetes section docs/executors.md shows loads as written, into
// the executor's options; mistakes name their field.
func TestKubernetesConfigOfTheDocsLoads(t *testing.T) {
	for _, block := range docBlocks(t, "executors.md", "kubernetes:") {
		cfg, err := loadConfigText(t, block)
		if err != nil {
			t.Fatalf("%v\nin:\n%s", err, block)
		}
		if err := cfg.defaults(); err != nil {
			t.Fatal(err)
		}
		k := cfg.Kubernetes
		if k == nil || k.Namespace != "ci-jobs" || k.StartTimeout != 3*time.Minute || k.Resources.Build.MemoryLimit != "1Gi" ||
			k.MaxOverwrite.Build.CPURequest != "4" || k.NodeSelector["kubernetes.io/arch"] != "amd64" ||
			len(k.Tolerations) != 1 || k.Tolerations[0].Effect != "NoSchedule" || k.ImagePullSecrets[0] != "registry-creds" {
			t.Errorf("kubernetes: %+v", k)
		}
		if k.Installation != cfg.ServerName {
			t.Errorf("installation %q, want the server's name %q", k.Installation, cfg.ServerName)
		}
	}
	for text, want := range map[string]string{
		"kubernetes:\n  namespce: x\n":                                     "2:3",
		"executor: kubernetes\n":                                           "kubernetes.helper_image: not set",
		"kubernetes:\n  helper_image: h\n  start_timeout: soon\n":          "3:",
		"kubernetes:\n  helper_image: h\n  resources: {build: {cpu: 1}}\n": "3:",
	} {
		cfg, err := loadConfigText(t, text)
		if err == nil {
			err = cfg.defaults()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", text, err, want)
		}
	}
}
