package ci

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary YAML to the loader: it must never panic or hang,
// and every error it reports must name the file.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"job:\n  script: [echo]\n",
		".a: &a {script: [x]}\njob:\n  <<: *a\n  extends: .a\n",
		"job:\n  script: !reference [.x, y]\n.x: {y: [1]}\n",
		"stages: [a]\njob: {stage: a, script: x, rules: [{if: '$A =~ /b/i'}], parallel: {matrix: [{A: [1, 2]}]}}\n",
		"a: &a [*a]\n",
		"job:\n  needs: [{job: b, artifacts: false}]\n  script: [x]\nb: {script: [y]}\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := LoadBytes("fuzz.yml", []byte(src), LoadOptions{ProjectDir: t.TempDir()})
		if err != nil {
			for _, e := range Errors(err) {
				if e.Pos.File == "" && !strings.Contains(e.Msg, "fuzz.yml") {
					t.Fatalf("error without a file: %v", e)
				}
			}
			return
		}
		if _, err := NewPlan(cfg, Context{Predefined: Predefined(PipelineInfo{Source: "push", Branch: "main"})}); err != nil {
			return
		}
	})
}
