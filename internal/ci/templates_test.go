package ci

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// unsupportedTemplates are GitLab templates that use a feature Slipway does
// not support; each must fail with exactly that "unsupported:" message.
var unsupportedTemplates = map[string]string{}

// TestGitLabTemplates loads and plans GitLab's public CI templates: each
// must plan, or fail only with the unsupported feature it is listed for.
func TestGitLabTemplates(t *testing.T) {
	dir := filepath.Join("testdata", "templates")
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".yml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 40 {
		t.Fatalf("%d templates under %s, want at least 40", len(files), dir)
	}
	contexts := map[string]PipelineInfo{"push": pushMain, "merge request": mrFeat, "tag": tagV1}
	planned := 0
	for _, f := range files {
		name, _ := filepath.Rel(dir, f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadBytes(name, data, LoadOptions{ProjectDir: t.TempDir(), TemplateDir: dir})
			if err != nil && !strings.Contains(err.Error(), "unsupported: ") {
				// Job and base templates are made to be included by a
				// pipeline that declares their stages, as Auto DevOps does.
				cfg, err = LoadBytes(".gitlab-ci.yml", []byte(includer(name)), LoadOptions{ProjectDir: t.TempDir(), TemplateDir: dir})
			}
			want, listed := unsupportedTemplates[name]
			if err != nil {
				for _, e := range Errors(err) {
					if !strings.Contains(e.Msg, "unsupported: ") {
						t.Errorf("fails with a message that is not \"unsupported: ...\": %v", e)
					}
				}
				if !listed || !strings.Contains(err.Error(), want) {
					t.Errorf("fails with %q; list it in unsupportedTemplates with the feature, or support it", err)
				}
				return
			}
			if listed {
				t.Errorf("loads now; remove it from unsupportedTemplates (was: %s)", want)
			}
			for what, info := range contexts {
				if _, err := NewPlan(cfg, Context{Predefined: Predefined(info), Files: []string{"Dockerfile"}}); err != nil && !errors.Is(err, ErrNoPipeline) {
					t.Errorf("plan for a %s: %v", what, err)
				}
			}
			planned++
		})
	}
	t.Logf("%d of %d templates load and plan", planned, len(files))
}

// includer is a pipeline that includes a template the way GitLab's Auto
// DevOps does, with Auto DevOps' stages.
func includer(template string) string {
	return `stages: [build, test, deploy, review, dast, staging, canary, production, incremental rollout 10%,
  incremental rollout 25%, incremental rollout 50%, incremental rollout 100%, performance, cleanup]
include:
  - template: ` + template + `
smoke:
  script: ["true"]
`
}
