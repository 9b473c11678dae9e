package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/release"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// releaseRepos makes one repository per component (name -> pipeline) in a
// folder and returns it.
func releaseRepos(t *testing.T, pipelines map[string]string) string {
	t.Helper()
	repos := t.TempDir()
	for name, pipeline := range pipelines {
		dir := filepath.Join(repos, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(pipeline), 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.Git(t, dir, "init", "-q", "-b", "main")
		testenv.Git(t, dir, "add", "-A")
		testenv.Git(t, dir, "commit", "-q", "-m", "pipeline")
	}
	return repos
}

func readReleaseReport(t *testing.T, path string) release.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r release.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	return r
}

func TestReleaseRunDryRunCLI(t *testing.T) {
	out := t.TempDir()
	repos := releaseRepos(t, map[string]string{
		"gravitee-common": "build:\n  script: [echo \"$COMPONENT_NAME $RELEASE_DRY_RUN\" > " + out + "/common]\n",
		"gravitee-gateway": "build:\n  script: [cat " + out + "/common > " + out + "/gateway]\n" +
			"deploy:\n  rules: [{if: $RELEASE_DRY_RUN == \"false\"}]\n  script: [touch " + out + "/deployed]\n",
	})
	dir := t.TempDir()
	manifest := filepath.Join(dir, "release.json")
	os.WriteFile(manifest, []byte(`{
  "name": "Gravitee.io", "version": "7.10.0-SNAPSHOT",
  "components": [
    {"name": "gravitee-common", "version": "1.18.0"},
    {"name": "gravitee-gateway", "version": "4.1.32-SNAPSHOT", "pull-request": "main"}
  ],
  "buildDependencies": [["gravitee-common"], ["gravitee-gateway"]]
}`), 0o644)
	stdout, stderr, code := slipway(t, dir, "release", "run", manifest, "--repos", repos, "--dry-run", "--report", "report.json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Release Gravitee.io 7.10.0-SNAPSHOT (dry run", "group 1\n  gravitee-common", "main (default)", "main (pull-request)",
		"[group 2] gravitee-gateway: success", "Release Gravitee.io 7.10.0-SNAPSHOT: success"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(out, "gateway")); string(data) != "gravitee-common true\n" {
		t.Errorf("gateway built from %q", data)
	}
	if _, err := os.Stat(filepath.Join(out, "deployed")); err == nil {
		t.Error("a dry run deployed")
	}
	r := readReleaseReport(t, filepath.Join(dir, "report.json"))
	if !r.DryRun || r.Status != release.Success || len(r.Components) != 2 {
		t.Fatalf("report = %+v", r)
	}
	gw := r.Components[1]
	if gw.Name != "gravitee-gateway" || gw.Group != 2 || gw.Ref != "main" || len(gw.Commit) != 40 || gw.Status != release.Success || gw.PipelineReport == "" {
		t.Errorf("gateway report = %+v", gw)
	}
	if tags := testenv.Git(t, filepath.Join(repos, "gravitee-common"), "tag"); tags != "" {
		t.Errorf("a dry run tagged %q", tags)
	}
}

func TestReleaseRunFailureCLI(t *testing.T) {
	repos := releaseRepos(t, map[string]string{
		"lib": "build:\n  script: [exit 4]\n",
		"app": "build:\n  script: [true]\n",
	})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "release.yml"), []byte("name: shop\nversion: 1.0.0\ncomponents:\n  - {name: lib, version: 1.0.0}\n  - {name: app, version: 1.0.0}\nbuildDependencies: [[lib], [app]]\n"), 0o644)
	stdout, stderr, code := slipway(t, dir, "release", "run", "release.yml", "--repos", repos, "--report", "report.json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "group 1 failed (lib)") || !strings.Contains(stdout, "Release shop 1.0.0: failed") {
		t.Errorf("stdout:\n%s", stdout)
	}
	r := readReleaseReport(t, filepath.Join(dir, "report.json"))
	// Each component's stage as it reaches it; a failure names its log.
	if !strings.Contains(stdout, "[group 1] lib: stage test\n") ||
		!strings.Contains(stdout, "[group 1] lib: failed in ") || !strings.Contains(stdout, "build failed; its log: "+r.Components[0].Log+"\n") {
		t.Errorf("progress lacks lib's stage or the path of its log %s:\n%s", r.Components[0].Log, stdout)
	}
	if log, err := os.ReadFile(r.Components[0].Log); err != nil || !strings.Contains(string(log), "exit 4") {
		t.Errorf("the log named: %v\n%s", err, log)
	}
	if r.Status != release.Failed || r.Components[0].Status != release.Failed || r.Components[1].Status != release.NotStarted {
		t.Errorf("report = %+v", r)
	}
	if tags := testenv.Git(t, filepath.Join(repos, "lib"), "tag"); tags != "" {
		t.Errorf("a failed component was tagged %q", tags)
	}
}

func TestReleasePlanCLI(t *testing.T) {
	out := t.TempDir()
	repos := releaseRepos(t, map[string]string{"lib": "build:\n  script: [touch " + out + "/ran]\n"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "release.yml"), []byte("name: shop\nversion: 1.0.0\ncomponents: [{name: lib, version: 2.3.4}]\nbuildDependencies: [[lib]]\n"), 0o644)
	head := testenv.Git(t, filepath.Join(repos, "lib"), "rev-parse", "HEAD")
	stdout, stderr, code := slipway(t, dir, "release", "plan", "release.yml", "--repos", repos, "--report", "plan.json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "lib  2.3.4  main (default)  "+head[:12]) {
		t.Errorf("plan:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
		t.Error("plan ran a pipeline")
	}
	if r := readReleaseReport(t, filepath.Join(dir, "plan.json")); r.Status != release.Planned || r.Components[0].Commit != head {
		t.Errorf("plan report = %+v", r)
	}
}

// --json prints the report on stdout, and only it: the plan and a run's
// progress go to stderr.
func TestReleaseJSONCLI(t *testing.T) {
	repos := releaseRepos(t, map[string]string{"lib": "build:\n  script: [echo built]\n"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "release.yml"), []byte("name: shop\nversion: 1.0.0\ncomponents: [{name: lib, version: 2.3.4}]\nbuildDependencies: [[lib]]\n"), 0o644)
	head := testenv.Git(t, filepath.Join(repos, "lib"), "rev-parse", "HEAD")
	for _, c := range []struct {
		cmd  []string
		want release.Status
	}{
		{[]string{"release", "plan", "release.yml", "--json"}, release.Planned},
		{[]string{"release", "run", "release.yml", "--dry-run", "--json", "--work-dir", t.TempDir()}, release.Success},
	} {
		stdout, stderr, code := slipway(t, dir, append(c.cmd, "--repos", repos)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", c.cmd, code, stdout, stderr)
		}
		var r release.Report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: stdout is not the JSON report: %v\n%s", c.cmd, err, stdout)
		}
		if r.Status != c.want || len(r.Components) != 1 || r.Components[0].Commit != head {
			t.Errorf("%v: report = %+v, want %s with lib at %s", c.cmd, r, c.want, head)
		}
		if !strings.Contains(stderr, head[:12]) {
			t.Errorf("%v: stderr lacks the plan:\n%s", c.cmd, stderr)
		}
	}
}

func TestReleaseManifestErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "release.json"), []byte(`{
  "name": "shop", "version": "1.0.0",
  "components": [{"name": "lib", "version": "1.x"}],
  "buildDependencies": [["lib", "api"]]
}`), 0o644)
	stdout, stderr, code := slipway(t, dir, "release", "plan", "release.json", "--repos", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`release.json:3:45: component lib: version "1.x" is not a semantic version`,
		`release.json:4:33: buildDependencies group 1: unknown component "api"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// The cron line of docs/release.md, night after night: a nightly real run
// of snapshot versions succeeds again after new commits, tags none of
// them, and its report names the commits it built.
func TestReleaseNightlyCronCLI(t *testing.T) {
	repos := releaseRepos(t, map[string]string{
		"cockpit-api": "build:\n  script: [echo $COMPONENT_VERSION]\n",
		"cockpit-ui":  "build:\n  script: [echo $COMPONENT_VERSION]\n",
	})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nightly.yml"), []byte("name: cockpit\nversion: 3.0.0-nightly\ncomponents:\n"+
		"  - {name: cockpit-api, version: 3.0.0-SNAPSHOT}\n  - {name: cockpit-ui, version: 3.0.0-nightly}\n"+
		"buildDependencies: [[cockpit-api], [cockpit-ui]]\n"), 0o644)
	env := []string{"GIT_COMMITTER_NAME=Nightly", "GIT_COMMITTER_EMAIL=nightly@example.com"}
	for night := 1; night <= 2; night++ {
		if night == 2 {
			for _, name := range []string{"cockpit-api", "cockpit-ui"} {
				repo := filepath.Join(repos, name)
				os.WriteFile(filepath.Join(repo, "CHANGES"), []byte("night 2\n"), 0o644)
				testenv.Git(t, repo, "add", "-A")
				testenv.Git(t, repo, "commit", "-q", "-m", "a change of the day")
			}
		}
		stdout, stderr, code := slipwayWith(t, dir, env, "", "release", "run", "nightly.yml", "--repos", repos, "--report", "nightly.json")
		if code != 0 {
			t.Fatalf("night %d: exit %d\n%s\n%s", night, code, stdout, stderr)
		}
		r := readReleaseReport(t, filepath.Join(dir, "nightly.json"))
		for _, c := range r.Components {
			repo := filepath.Join(repos, c.Name)
			if head := testenv.Git(t, repo, "rev-parse", "HEAD"); c.Status != release.Success || c.Commit != head || c.Tag != "" {
				t.Errorf("night %d: %s: report %+v, want success on %s, no tag", night, c.Name, c, head)
			}
			if tags := testenv.Git(t, repo, "tag"); tags != "" {
				t.Errorf("night %d: %s tagged %q", night, c.Name, tags)
			}
		}
	}
}
