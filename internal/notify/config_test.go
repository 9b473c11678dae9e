package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "slipway.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigAndBuildTargets(t *testing.T) {
	rc := newReceiver(t, nil)
	file := writeConfig(t, `
server:
  listen: 127.0.0.1:8080
notify:
  - name: team
    type: slack
    url_env: SLACK_URL
  - type: webhook
    url: `+rc.URL+`/hook
    secret_env: HOOK_SECRET
    events: ["*.failed"]
  - type: github
    token_env: GITHUB_TOKEN
    context: ci/slipway
  - type: gitlab
    base_url: https://gitlab.example.com
    token_env: GITLAB_TOKEN
    repo: "1234"
    events: [pipeline.*, job.*]
`)
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_URL": rc.URL + "/services/X", "HOOK_SECRET": "k", "GITHUB_TOKEN": "ghp", "GITLAB_TOKEN": "glpat"}
	targets, err := cfg.Targets(func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 4 {
		t.Fatalf("%d targets", len(targets))
	}
	names := []string{targets[0].Name, targets[1].Name, targets[2].Name, targets[3].Name}
	if strings.Join(names, ",") != "team,webhook#1,github#2,gitlab#3" {
		t.Errorf("names %v", names)
	}
	if strings.Join(targets[0].Events, ",") != "pipeline.success,pipeline.failed,pipeline.canceled" ||
		strings.Join(targets[2].Events, ",") != "pipeline.*" || strings.Join(targets[3].Events, ",") != "pipeline.*,job.*" {
		t.Errorf("events: %v %v %v", targets[0].Events, targets[2].Events, targets[3].Events)
	}
	gh := targets[2].Notifier.(GitHubStatus)
	gl := targets[3].Notifier.(GitLabStatus)
	if gh.Token != "ghp" || gh.Context != "ci/slipway" || gl.Token != "glpat" || gl.Project != "1234" || gl.BaseURL != "https://gitlab.example.com" {
		t.Errorf("github %+v gitlab %+v", gh, gl)
	}
	// The built webhook target works end to end.
	if err := targets[1].Notifier.Notify(context.Background(), pipelineEvent(Failed)); err != nil {
		t.Fatal(err)
	}
	if r := rc.only(t); r.Path != "/hook" || r.Header.Get(HeaderSignature) == "" {
		t.Errorf("webhook request %s %v", r.Path, r.Header)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown type", "notify:\n  - type: slak\n    url: https://x\n", `2:11: notify[0].type: unknown type "slak"`},
		{"no type", "notify:\n  - url: https://x\n", "2:5: notify[0].type: required"},
		{"unknown field", "notify:\n  - type: slack\n    url: https://x\n    channel: ops\n", "4:5: notify[0].channel: unknown field"},
		{"missing url", "notify:\n  - type: slack\n    events: [pipeline.failed]\n", "notify[0].url: required for type slack (or url_env)"},
		{"webhook without secret", "notify:\n  - type: webhook\n    url: https://x\n", "notify[0].secret: required"},
		{"gitlab without base", "notify:\n  - type: gitlab\n    token_env: T\n", "notify[0].base_url: required"},
		{"both token forms", "notify:\n  - type: github\n    token: a\n    token_env: B\n", "4:16: notify[0].token_env: give token or token_env, not both"},
		{"typo in events", "notify:\n  - type: slack\n    url: https://x\n    events: [pipline.failed]\n", `4:14: notify[0].events[0]: "pipline.failed" matches no event`},
		{"bad pattern", "notify:\n  - type: slack\n    url: https://x\n    events: [\"pipeline.[\"]\n", "notify[0].events[0]: \"pipeline.[\" is not a valid pattern"},
		{"not a url", "notify:\n  - type: slack\n    url: hooks.slack.com/services/SECRET\n", "3:10: notify[0].url: not an http(s) URL"},
		{"not a list", "notify:\n  type: slack\n", "2:3: notify: want a list"},
		{"events not a list", "notify:\n  - type: slack\n    url: https://x\n    events: pipeline.failed\n", "4:13: notify[0].events: want a list"},
		{"second entry", "notify:\n  - type: slack\n    url: https://x\n  - type: teams\n", "4:11: notify[1].type: unknown type"},
		{"broken YAML", "notify:\n  - type: slack\n    events: [pipeline.failed\n", ":4:1: invalid YAML: did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeConfig(t, tc.yaml)
			_, err := Load(file)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), file+":") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to start with the file and contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes a URL: %v", err)
			}
		})
	}
}

func TestConfigMissingEnv(t *testing.T) {
	var doc struct {
		Notify Config `yaml:"notify"`
	}
	if err := yaml.Unmarshal([]byte("notify:\n  - type: github\n    token_env: GH_TOKEN\n"), &doc); err != nil {
		t.Fatal(err)
	}
	_, err := doc.Notify.Targets(func(string) string { return "" }, nil)
	if err == nil || err.Error() != "3:16: notify[0].token_env: environment variable GH_TOKEN is not set" {
		t.Errorf("err = %v", err)
	}
}

func TestConfigEmptySection(t *testing.T) {
	cfg, err := Load(writeConfig(t, "notify:\n"))
	if err != nil || len(cfg) != 0 {
		t.Errorf("cfg %v err %v", cfg, err)
	}
}
