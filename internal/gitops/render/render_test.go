package render_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops/render"
)

// repo writes files under a fresh folder, as a checkout holds them.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestManifestsAreReadInPathOrderWithTheirOrigin: every YAML document of
// the folder's files, subfolders included, in path order; empty documents
// and other files skipped.
func TestManifestsAreReadInPathOrderWithTheirOrigin(t *testing.T) {
	root := repo(t, map[string]string{
		"apps/b.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"apps/a/deep.yml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: \"1\"\n",
		"apps/README.md":     "not yaml: [",
		"apps/.hidden/x.yml": "not: [valid",
	})
	objs, err := render.Render(root, "apps", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetName()+"@"+o.Origin)
	}
	want := "a@apps/a/deep.yml:1:1 b@apps/b.yaml:1:1 c@apps/b.yaml:7:1"
	if strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}

// TestBadManifestNamesFileLineAndField: file:line:col, as every YAML error of Slipway.
func TestBadManifestNamesFileLineAndField(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n", "apps/x.yaml:5:1: apiVersion: required"},
		// A syntax error is placed at its line and column, with the construct it is in
		// (yaml.v3 alone names a line, not always the right one).
		{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n", "apps/x.yaml:5:1: invalid YAML: did not find expected ',' or ']' (in a flow sequence that starts at 4:9)"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad\ndata: {}\n", "apps/x.yaml:4:5: invalid YAML: did not find expected ',' or '}' (in a flow mapping that starts at 3:11)"},
		{"- a\n- b\n", "apps/x.yaml:1:1: want a Kubernetes object"},
	} {
		_, err := render.Render(repo(t, map[string]string{"apps/x.yaml": tc.content}), "apps", render.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.content, err, tc.want)
		}
	}
}

// TestSubstitutionIsStrictWithDefaults: ${VAR} takes its value,
// ${VAR:=default} its default (unquoted, a number stays one, as in Flux),
// an object may opt out, and a variable
// with neither is an error naming it and the file.
func TestSubstitutionIsStrictWithDefaults(t *testing.T) {
	root := repo(t, map[string]string{
		"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${ENV}\ndata:\n  replicas: \"${REPLICAS:=2}\"\n  region: ${REGION}\n" +
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  script: echo ${HOME}\n",
	})
	objs, err := render.Render(root, "apps", render.Options{Substitute: true, Vars: map[string]string{"ENV": "prod", "REGION": "eu"}})
	if err != nil {
		t.Fatal(err)
	}
	data := objs[0].Object["data"].(map[string]any)
	if objs[0].GetName() != "cm-prod" || fmt.Sprint(data["replicas"]) != "2" || data["region"] != "eu" {
		t.Errorf("substituted: %v", objs[0].Object)
	}
	if s := objs[1].Object["data"].(map[string]any)["script"]; s != "echo ${HOME}" {
		t.Errorf("opted-out object changed: %v", s)
	}
	_, err = render.Render(root, "apps", render.Options{Substitute: true, Vars: map[string]string{"ENV": "prod"}})
	if err == nil || !strings.Contains(err.Error(), `"REGION"`) || !strings.Contains(err.Error(), "apps/cm.yaml:1:1") {
		t.Errorf("missing variable: %v", err)
	}
}

// TestKustomizeOverlayBuildsAndIsSubstituted: a folder with a
// kustomization.yaml is built by Kustomize (an overlay of a base), then
// substituted.
func TestKustomizeOverlayBuildsAndIsSubstituted(t *testing.T) {
	root := repo(t, map[string]string{
		"base/kustomization.yaml":          "resources: [cm.yaml]\n",
		"base/cm.yaml":                     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  tier: ${TIER:=free}\n",
		"overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\nlabels: [{pairs: {env: prod}}]\n",
	})
	objs, err := render.Render(root, "overlays/prod", render.Options{Substitute: true, Vars: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].GetName() != "prod-settings" || objs[0].GetLabels()["env"] != "prod" ||
		objs[0].Object["data"].(map[string]any)["tier"] != "free" || objs[0].Origin != "overlays/prod/kustomization.yaml" {
		t.Errorf("built: %+v", objs)
	}
}

// TestKustomizeCannotReadOutsideTheRepository: a resource leading out of
// the checkout, by path or link, is refused.
func TestKustomizeCannotReadOutsideTheRepository(t *testing.T) {
	outside := repo(t, map[string]string{"secret.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: host\n"})
	root := repo(t, map[string]string{"apps/kustomization.yaml": "resources: [" + filepath.Join(outside, "secret.yaml") + "]\n"})
	if _, err := render.Render(root, "apps", render.Options{}); err == nil {
		t.Error("a kustomization read a file outside the repository")
	}
	root = repo(t, map[string]string{"apps/kustomization.yaml": "resources: [link.yaml]\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "apps", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := render.Render(root, "apps", render.Options{}); err == nil {
		t.Error("a kustomization read a file outside the repository through a link")
	}
}
