package ci

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFiles lays out a project folder and returns its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, files map[string]string) *Config {
	t.Helper()
	dir := writeFiles(t, files)
	cfg, err := Load(filepath.Join(dir, ".gitlab-ci.yml"), LoadOptions{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

func loadErr(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := writeFiles(t, files)
	_, err := Load(filepath.Join(dir, ".gitlab-ci.yml"), LoadOptions{})
	if err == nil {
		t.Fatal("load succeeded, want an error")
	}
	return err.Error()
}

func TestAnchorsAliasesAndMergeKeys(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
.defaults: &defaults
  image: alpine:3.19
  variables:
    A: "1"
  script: [echo base]
.setup: &setup
  - echo setup
job:
  <<: *defaults
  before_script: *setup
  variables:
    B: "2"
`})
	j := cfg.Job("job")
	if j.Image == nil || j.Image.Name != "alpine:3.19" {
		t.Errorf("image = %+v, want alpine:3.19 from the merge key", j.Image)
	}
	if !reflect.DeepEqual(j.BeforeScript, []string{"echo setup"}) {
		t.Errorf("before_script = %q", j.BeforeScript)
	}
	// An explicit key wins over the merged one: variables are B only.
	if _, ok := j.Variables.Get("A"); ok || len(j.Variables) != 1 {
		t.Errorf("variables = %+v, want only B (explicit key replaces merged one)", j.Variables)
	}
	if len(cfg.Jobs) != 1 {
		t.Errorf("hidden jobs must not be jobs: %d jobs", len(cfg.Jobs))
	}
}

func TestReference(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
.setup:
  script:
    - echo one
    - echo two
  variables:
    URL: http://x
job:
  variables:
    URL: !reference [.setup, variables, URL]
  script:
    - !reference [.setup, script]
    - echo three
`})
	j := cfg.Job("job")
	if want := []string{"echo one", "echo two", "echo three"}; !reflect.DeepEqual(j.Script, want) {
		t.Errorf("script = %q, want %q", j.Script, want)
	}
	if v, _ := j.Variables.Get("URL"); v.Value != "http://x" {
		t.Errorf("URL = %q", v.Value)
	}
	msg := loadErr(t, map[string]string{".gitlab-ci.yml": "job:\n  script: !reference [.nope, script]\n"})
	if !strings.Contains(msg, ".gitlab-ci.yml:2:") || !strings.Contains(msg, ".nope not found") {
		t.Errorf("error = %q, want position and the missing key", msg)
	}
}

func TestIncludeLocal(t *testing.T) {
	cfg := mustLoad(t, map[string]string{
		".gitlab-ci.yml": `
include:
  - local: ci/build.yml
  - ci/more/*.yml
  - local: /ci/vars.yml
variables:
  FROM_MAIN: main
build:
  variables:
    MODE: main-wins
`,
		"ci/build.yml": `
build:
  stage: build
  script: [make]
  variables:
    MODE: included
    KEPT: "yes"
`,
		"ci/more/a.yml": "lint:\n  script: [lint]\n",
		"ci/more/b.yml": "test:\n  script: [test]\n",
		"ci/vars.yml":   "variables:\n  FROM_INCLUDE: inc\n",
	})
	b := cfg.Job("build")
	if b == nil || b.Stage != "build" || !reflect.DeepEqual(b.Script, []string{"make"}) {
		t.Fatalf("build = %+v", b)
	}
	if v, _ := b.Variables.Get("MODE"); v.Value != "main-wins" {
		t.Errorf("MODE = %q: the main file must win over includes", v.Value)
	}
	if v, _ := b.Variables.Get("KEPT"); v.Value != "yes" {
		t.Errorf("KEPT = %q: hashes merge deeply", v.Value)
	}
	if cfg.Job("lint") == nil || cfg.Job("test") == nil {
		t.Error("glob include missed a file")
	}
	if _, ok := cfg.Variables.Get("FROM_INCLUDE"); !ok {
		t.Error("included global variables lost")
	}
	msg := loadErr(t, map[string]string{".gitlab-ci.yml": "include: ../../etc/passwd\njob: {script: [x]}\n"})
	if !strings.Contains(msg, "leaves the project folder") {
		t.Errorf("error = %q", msg)
	}
	msg = loadErr(t, map[string]string{".gitlab-ci.yml": "include:\n  - remote: https://example.com/x.yml\njob: {script: [x]}\n"})
	if !strings.Contains(msg, ".gitlab-ci.yml:2:13: unsupported: include:remote") {
		t.Errorf("error = %q", msg)
	}
}

func TestExtends(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
.base:
  image: ruby
  variables: {A: base, B: base}
  script: [base]
  tags: [one, two]
.middle:
  extends: .base
  variables: {B: middle}
  tags: [three]
.other:
  variables: {C: other}
  retry: 2
job:
  extends: [.middle, .other]
  variables: {D: job}
  script: [job]
`})
	j := cfg.Job("job")
	got := map[string]string{}
	for _, v := range j.Variables {
		got[v.Name] = v.Value
	}
	want := map[string]string{"A": "base", "B": "middle", "C": "other", "D": "job"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("variables = %v, want %v (hashes merged deeply)", got, want)
	}
	if !reflect.DeepEqual(j.Tags, []string{"three"}) {
		t.Errorf("tags = %v, want arrays replaced", j.Tags)
	}
	if !reflect.DeepEqual(j.Script, []string{"job"}) || j.Image.Name != "ruby" || j.Retry.Max != 2 {
		t.Errorf("job = %+v", j)
	}
	msg := loadErr(t, map[string]string{".gitlab-ci.yml": ".a:\n  extends: .b\n.b:\n  extends: .a\njob:\n  extends: .a\n  script: [x]\n"})
	if !strings.Contains(msg, "extends cycle") {
		t.Errorf("error = %q", msg)
	}
	msg = loadErr(t, map[string]string{".gitlab-ci.yml": ".base: {script: [x]}\njob:\n  extends: .bsae\n"})
	if !strings.Contains(msg, `unknown job ".bsae" (did you mean ".base"?)`) {
		t.Errorf("error = %q", msg)
	}
}

func TestDefaultAndInherit(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
variables:
  G1: one
  G2: two
default:
  image: golang
  before_script: [echo default]
  retry: 1
plain:
  script: [x]
own:
  image: node
  script: [x]
none:
  inherit:
    default: false
    variables: false
  script: [x]
some:
  inherit:
    default: [image]
    variables: [G2]
  script: [x]
`})
	if j := cfg.Job("plain"); j.Image.Name != "golang" || j.Retry.Max != 1 || len(j.BeforeScript) != 1 || len(j.GlobalVariables) != 2 {
		t.Errorf("plain = %+v", j)
	}
	if j := cfg.Job("own"); j.Image.Name != "node" {
		t.Errorf("own image = %v", j.Image)
	}
	if j := cfg.Job("none"); j.Image != nil || j.BeforeScript != nil || len(j.GlobalVariables) != 0 {
		t.Errorf("none = %+v", j)
	}
	if j := cfg.Job("some"); j.Image.Name != "golang" || j.Retry.Max != 0 || len(j.GlobalVariables) != 1 || j.GlobalVariables[0].Name != "G2" {
		t.Errorf("some = %+v", j)
	}
}

func TestJobKeywords(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
stages: [build, test, deploy]
build:
  stage: build
  script: echo build
  after_script: [echo after]
  artifacts:
    paths: [out/]
    exclude: [out/*.tmp]
    when: always
    expire_in: 1 week
    untracked: true
    reports:
      dotenv: build.env
  cache:
    key:
      files: [go.sum]
      prefix: $CI_JOB_NAME
    paths: [.cache/]
    policy: pull
  retry:
    max: 2
    when: [runner_system_failure, script_failure]
  timeout: 1h 30m
  allow_failure:
    exit_codes: [3, 4]
  interruptible: true
  resource_group: prod
  coverage: '/total: (\d+)%/'
  tags: [docker]
  image:
    name: golang:1.22
    entrypoint: [""]
  services:
    - postgres:15
    - name: redis:7
      alias: cache
      command: [redis-server]
test:
  stage: test
  needs:
    - build
    - job: lint
      optional: true
    - job: build
      artifacts: false
  dependencies: []
  script: [test]
  when: delayed
  start_in: 5 minutes
  parallel: 3
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    url: https://$CI_ENVIRONMENT_SLUG.example.com
    on_stop: stop
    auto_stop_in: 1 day
stop:
  stage: deploy
  script: [stop]
  when: manual
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
`})
	b := cfg.Job("build")
	if !reflect.DeepEqual(b.Script, []string{"echo build"}) || b.Timeout != 90*time.Minute {
		t.Errorf("script/timeout = %q %v", b.Script, b.Timeout)
	}
	a := b.Artifacts
	if a == nil || a.When != "always" || !a.Untracked || !reflect.DeepEqual(a.Dotenv, []string{"build.env"}) || a.ExpireIn != "1 week" {
		t.Errorf("artifacts = %+v", a)
	}
	if len(b.Cache) != 1 || b.Cache[0].Policy != "pull" || b.Cache[0].KeyPrefix != "$CI_JOB_NAME" || b.Cache[0].KeyFiles[0] != "go.sum" {
		t.Errorf("cache = %+v", b.Cache)
	}
	if b.Retry.Max != 2 || len(b.Retry.When) != 2 {
		t.Errorf("retry = %+v", b.Retry)
	}
	if !b.AllowFailure.Allows(3) || b.AllowFailure.Allows(1) {
		t.Errorf("allow_failure = %+v", b.AllowFailure)
	}
	if len(b.Services) != 2 || b.Services[1].Alias != "cache" || b.Image.Entrypoint[0] != "" {
		t.Errorf("services/image = %+v %+v", b.Services, b.Image)
	}
	tj := cfg.Job("test")
	if len(tj.Needs) != 3 || !tj.Needs[1].Optional || tj.Needs[2].Artifacts {
		t.Errorf("needs = %+v", tj.Needs)
	}
	if tj.Dependencies == nil || len(tj.Dependencies) != 0 {
		t.Errorf("dependencies: [] must be empty, not unset: %#v", tj.Dependencies)
	}
	if tj.When != Delayed || tj.StartIn != 5*time.Minute || tj.Parallel.Count != 3 {
		t.Errorf("when/start_in/parallel = %v %v %+v", tj.When, tj.StartIn, tj.Parallel)
	}
	if e := tj.Environment; e == nil || e.OnStop != "stop" || e.AutoStopIn != "1 day" {
		t.Errorf("environment = %+v", e)
	}
}

func TestVariablesForms(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `
variables:
  PLAIN: value
  NUMBER: 10
  DESCRIBED:
    value: "staging"
    description: "where to deploy"
    options: [staging, production]
  RAW:
    value: "$NOT_EXPANDED"
    expand: false
job:
  script: [x]
`})
	want := []Variable{
		{Name: "PLAIN", Value: "value"}, {Name: "NUMBER", Value: "10"},
		{Name: "DESCRIBED", Value: "staging", Description: "where to deploy"},
		{Name: "RAW", Value: "$NOT_EXPANDED", Raw: true},
	}
	for i, w := range want {
		g := cfg.Variables[i]
		g.Pos = Pos{}
		if g != w {
			t.Errorf("variable %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLintErrors(t *testing.T) {
	cases := []struct {
		name, yml, want string
	}{
		{"unknown keyword", "job:\n  scirpt: [x]\n", `.gitlab-ci.yml:2:3: job job: unknown keyword "scirpt" (did you mean "script"?)`},
		{"wrong type", "job:\n  script: [x]\n  retry: {max: many}\n", ".gitlab-ci.yml:3:16: job job: retry:max should be a whole number"},
		{"undeclared stage", "stages: [build]\njob:\n  stage: tset\n  script: [x]\n", `.gitlab-ci.yml:2:1: job job: stage "tset" is not declared`},
		{"unknown needs", "build: {script: [x]}\njob:\n  needs: [biuld]\n  script: [x]\n", `.gitlab-ci.yml:3:11: job job: needs unknown job "biuld" (did you mean "build"?)`},
		{"cyclic needs", "a: {needs: [b], script: [x]}\nb: {needs: [a], script: [x]}\n", "needs cycle"},
		{"bad regex", "job:\n  script: [x]\n  only: [\"/a(/\"]\n", `bad regular expression "/a(/"`},
		{"bad if", "job:\n  script: [x]\n  rules:\n    - if: '$A == '\n", ".gitlab-ci.yml:4:"},
		{"missing script", "job:\n  stage: test\n", "script is required"},
		{"yaml syntax", "job:\n  script: [x\n", ".gitlab-ci.yml:"},
		{"when value", "job:\n  script: [x]\n  when: sometimes\n", `unknown value "sometimes"`},
		{"top-level typo", "stges: [a]\njob: {script: [x]}\n", `unknown keyword "stges" (did you mean "stages"?)`},
		{"duplicate key", "job: {script: [x]}\njob: {script: [y]}\n", `.gitlab-ci.yml:2:1: duplicate key "job"`},
		{"later-stage needs", "stages: [a, b]\nx: {stage: b, script: [x]}\ny: {stage: a, needs: [x], script: [x]}\n", "which is in a later stage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := loadErr(t, map[string]string{".gitlab-ci.yml": c.yml})
			if !strings.Contains(msg, c.want) {
				t.Errorf("error =\n%s\nwant it to contain\n%s", msg, c.want)
			}
		})
	}
}

func TestLintReportsEveryError(t *testing.T) {
	dir := writeFiles(t, map[string]string{".gitlab-ci.yml": "a:\n  scirpt: [x]\nb:\n  script: [x]\n  whne: manual\n"})
	_, err := Load(filepath.Join(dir, ".gitlab-ci.yml"), LoadOptions{})
	if n := len(Errors(err)); n < 3 {
		t.Errorf("got %d errors, want each problem reported: %v", n, err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3600": time.Hour, "1h 30m": 90 * time.Minute, "2 hours and 10 minutes": 130 * time.Minute,
		"1 day": 24 * time.Hour, "30s": 30 * time.Second, "1 week": 7 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"soon", "1 fortnight", "h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestAliasBombIsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("job: {script: [x]}\n")
	msg := loadErr(t, map[string]string{".gitlab-ci.yml": b.String()})
	if !strings.Contains(msg, "too many values") {
		t.Errorf("error = %q", msg)
	}
}

func TestSpecHeaderDocument(t *testing.T) {
	cfg := mustLoad(t, map[string]string{".gitlab-ci.yml": `spec:
  inputs:
    stage:
      default: test
---
job:
  script: [echo configured]
`})
	if cfg.Job("job") == nil || len(cfg.Jobs) != 1 {
		t.Errorf("jobs after a spec header: %+v", cfg.Jobs)
	}
}
