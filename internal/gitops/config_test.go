package gitops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// TestConfigReadsSectionsAndSkipsForeignKeys: the file's sources and
// deployments are read with their defaults, a relative local path as
// relative to the file; the image automation keys
// another part of Slipway owns are left alone, whatever they hold.
func TestConfigReadsSectionsAndSkipsForeignKeys(t *testing.T) {
	cfg, err := gitops.ParseConfig("/etc/slipway/slipway-gitops.yaml", []byte(`
sources:
  - name: ops
    url: https://git.example.com/ops.git
    credentials_ref: env:SLIPWAY_GIT_OPS
  - name: local
    url: ../git/ops.git
    branch: release
    interval: 30s
deployments:
  - name: prod
    source: ops
    path: clusters/prod/
    prune: true
    interval: 10m
    notify:
      - type: slack
        url_env: SLACK_URL
  - name: dev
    source: local
imagePolicies:
  - name: web
    anything: [goes, here]
imageUpdates: {whatever: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := cfg.Source("ops")
	if ops.Branch != "main" || ops.Interval != gitops.DefaultSourceInterval || ops.CredentialsRef != "env:SLIPWAY_GIT_OPS" {
		t.Errorf("source ops: %+v", ops)
	}
	local, _ := cfg.Source("local")
	if local.Branch != "release" || local.Interval != 30*time.Second || local.URL != "/etc/git/ops.git" {
		t.Errorf("source local: %+v", local)
	}
	prod, dev := cfg.Deployments[0], cfg.Deployments[1]
	if prod.Path != "clusters/prod" || !prod.Prune || prod.Interval != 10*time.Minute || len(prod.Notify) != 1 || prod.Notify[0].URLEnv != "SLACK_URL" {
		t.Errorf("deployment prod: %+v", prod)
	}
	if dev.Path != "" || dev.Prune || dev.Interval != gitops.DefaultDeploymentInterval {
		t.Errorf("deployment dev: %+v", dev)
	}
}

// TestConfigErrorsNameFileLineAndField: each mistake is refused with the
// file, line and column and the field's path.
func TestConfigErrorsNameFileLineAndField(t *testing.T) {
	const head = "sources:\n  - name: ops\n    url: /srv/ops.git\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown top-level key", head + "deployments: [{name: a, source: ops}]\nimagePolicy: {}\n",
			"f.yaml:5:1: imagePolicy: unknown top-level key"},
		{"unknown source key", "sources:\n  - name: ops\n    uri: /srv/ops.git\n",
			"f.yaml:3:5: sources[0].uri: unknown key"},
		{"bad interval", "sources:\n  - name: ops\n    url: x\n    interval: soon\n",
			`f.yaml:4:15: sources[0].interval: want a duration of at least 1s such as 30s, 5m or 1h, got "soon"`},
		{"namespace not a DNS label", head + "deployments:\n  - name: a\n    source: ops\n    kubernetes: {namespace: Prod_1}\n",
			`f.yaml:7:29: deployments[0].kubernetes.namespace: want a namespace name`},
		{"name not a slug", "sources:\n  - name: Ops_Repo\n    url: x\n",
			`f.yaml:2:11: sources[0].name: want lower-case letters`},
		{"url read as an option", "sources:\n  - name: ops\n    url: --upload-pack=touch /tmp/x\n",
			`f.yaml:3:10: sources[0].url: want a git URL or a path`},
		{"missing url", "sources:\n  - name: ops\n",
			"f.yaml:2:5: sources[0].url: required"},
		{"credentials from any variable", "sources:\n  - name: ops\n    url: https://x/y.git\n    credentials_ref: env:AWS_SECRET_ACCESS_KEY\n",
			`f.yaml:4:22: sources[0].credentials_ref: want env:SLIPWAY_GIT_<NAME>`},
		{"unknown source", head + "deployments:\n  - name: prod\n    source: opz\n",
			`f.yaml:6:13: deployments[0].source: no source named "opz"`},
		{"path leaving the repository", head + "deployments:\n  - name: prod\n    source: ops\n    path: apps/../../etc\n",
			"f.yaml:7:11: deployments[0].path: want a plain path inside the repository"},
		{"prune not a boolean", head + "deployments:\n  - name: prod\n    source: ops\n    prune: yes\n",
			"f.yaml:7:12: deployments[0].prune: want true or false"},
		{"duplicate deployment", head + "deployments:\n  - name: prod\n    source: ops\n  - name: prod\n    source: ops\n",
			`f.yaml:7:11: deployments[1].name: deployment "prod" defined twice`},
		{"bad notify target", head + "deployments:\n  - name: prod\n    source: ops\n    notify:\n      - type: pager\n",
			`f.yaml:8:15: notify[0].type: unknown type "pager"`},
		{"no deployment", head, "f.yaml:1:1: deployments: required"},
		{"dependsOn a missing deployment", head + "deployments:\n  - name: web\n    source: ops\n    dependsOn: [db]\n",
			`f.yaml:7:17: deployments[0].dependsOn[0]: no deployment named "db"`},
		{"dependsOn itself", head + "deployments:\n  - name: web\n    source: ops\n    dependsOn: [web]\n",
			`f.yaml:7:17: deployments[0].dependsOn[0]: deployment "web" depends on itself`},
		{"dependsOn cycle", head + "deployments:\n  - name: a\n    source: ops\n    dependsOn: [b]\n" +
			"  - name: b\n    source: ops\n    dependsOn: [c]\n  - name: c\n    source: ops\n    dependsOn:\n      - a\n",
			`f.yaml:14:9: deployments[2].dependsOn[0]: dependsOn cycle: a -> b -> c -> a`},
		{"suspend not a boolean", head + "deployments:\n  - name: prod\n    source: ops\n    suspend: 1\n",
			"f.yaml:7:14: deployments[0].suspend: want true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gitops.ParseConfig("f.yaml", []byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant prefix %s", err, tc.want)
			}
		})
	}
}
