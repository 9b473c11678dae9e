package tag

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustVersion(t *testing.T, raw string) *Version {
	t.Helper()
	v, err := parseVersion(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRender(t *testing.T) {
	at := time.Date(2020, 12, 16, 0, 44, 23, 0, time.FixedZone("CET", 3600))
	full := Vars{
		Version:    mustVersion(t, "3.0.0-SNAPSHOT"),
		Ref:        "feature/Login_Page",
		SHA:        "6b75e6fbd6cd52e8a1b2c3d4e5f60718293a4b5c",
		PipelineID: "4711",
		Time:       at,
	}
	tests := []struct {
		name, tmpl string
		vars       Vars
		want       string
	}{
		{"seed nightly from a Maven snapshot", "{version}-nightly", full, "3.0.0-nightly"},
		{"seed staging", "{branch_slug}-{short_sha}-{unix_ts}", full, "feature-login-page-6b75e6f-1608075863"},
		{"branch keeps case, dots, underscores", "{branch}", full, "feature-Login_Page"},
		{"full sha", "{sha}", full, "6b75e6fbd6cd52e8a1b2c3d4e5f60718293a4b5c"},
		{"timestamp is UTC", "build-{timestamp}", full, "build-20201215234423"},
		{"semver parts", "{major}.{minor}", Vars{Version: mustVersion(t, "12.4.7")}, "12.4"},
		{"patch", "p{patch}", Vars{Version: mustVersion(t, "12.4.7")}, "p7"},
		{"pipeline id", "pipeline-{pipeline_id}", full, "pipeline-4711"},
		{"plain literal", "latest", Vars{}, "latest"},
		{"v prefix and short version normalised", "{version}", Vars{Version: mustVersion(t, "v1.2")}, "1.2.0"},
		{"build metadata: + becomes _", "{version}", Vars{Version: mustVersion(t, "1.0.0-rc.1+build.5")}, "1.0.0-rc.1_build.5"},
		{"prerelease kept", "{version}", Vars{Version: mustVersion(t, "2.0.0-beta.1")}, "2.0.0-beta.1"},
		{"unicode branch", "{branch}", Vars{Ref: "fix/ümlaut!!x"}, "fix-mlaut-x"},
		{"branch starting with dots", "{branch}", Vars{Ref: "..hidden"}, "hidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.tmpl, tt.vars)
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.tmpl, err)
			}
			if got != tt.want {
				t.Fatalf("Render(%q) = %q, want %q", tt.tmpl, got, tt.want)
			}
			if err := Valid(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name, tmpl string
		vars       Vars
		want       []string // substrings of the error
	}{
		{"unknown placeholder", "{version}-{flavour}", Vars{}, []string{`"{version}-{flavour}"`, "column 11", "unknown placeholder {flavour}", "{short_sha}"}},
		{"unclosed brace", "a-{version", Vars{}, []string{"column 3", "never closed"}},
		{"stray closing brace", "a}", Vars{}, []string{"column 2", `"}" without "{"`}},
		{"empty", "", Vars{}, []string{"empty"}},
		{"no version", "{version}-nightly", Vars{}, []string{"{version}", "version file"}},
		{"no branch", "{branch_slug}", Vars{}, []string{"{branch_slug}", "CI_COMMIT_REF_NAME"}},
		{"branch without letters", "{branch_slug}", Vars{Ref: "///"}, []string{"no letter or digit"}},
		{"no sha", "{short_sha}", Vars{}, []string{"CI_COMMIT_SHA"}},
		{"no pipeline", "{pipeline_id}", Vars{}, []string{"CI_PIPELINE_ID"}},
		{"no time", "{unix_ts}", Vars{}, []string{"build time"}},
		{"literal not allowed in a tag", "my tag", Vars{}, []string{`"my tag" is not a Docker tag`}},
		{"starts with a dash", "-{sha}", Vars{SHA: strings.Repeat("a", 40)}, []string{"not a Docker tag"}},
		{"too long", strings.Repeat("x", 100) + "-{sha}", Vars{SHA: strings.Repeat("a", 40)}, []string{"141 characters", "at most 128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.tmpl, tt.vars)
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tt.tmpl, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestBranchNeverReachesATagUnsanitised feeds hostile branch names through
// both branch placeholders: the result is always a valid tag or an error.
func TestBranchNeverReachesATagUnsanitised(t *testing.T) {
	refs := []string{
		"feature/x", "a b", "UPPER/Case", "x:y@z", "../../etc/passwd", "-leading", ".dot", "tab\there",
		"emoji-🚀", strings.Repeat("long-", 60), "$(rm -rf /)", "a;b|c&d", "\x00nul", "_under",
	}
	for _, ref := range refs {
		for _, tmpl := range []string{"{branch}", "{branch_slug}", "{branch}-{short_sha}"} {
			got, err := Render(tmpl, Vars{Ref: ref, SHA: strings.Repeat("f", 40)})
			if err != nil {
				continue
			}
			if err := Valid(got); err != nil {
				t.Errorf("Render(%q) with ref %q = %q: %v", tmpl, ref, got, err)
			}
		}
	}
}

func TestFromCI(t *testing.T) {
	env := map[string]string{"CI_COMMIT_REF_NAME": "main", "CI_COMMIT_SHA": "abc1234def", "CI_PIPELINE_ID": "9"}
	v := FromCI(Vars{Ref: "kept"}, func(k string) string { return env[k] })
	if v.Ref != "kept" || v.SHA != "abc1234def" || v.PipelineID != "9" {
		t.Fatalf("FromCI = %+v", v)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadVersion(t *testing.T) {
	tests := []struct {
		name, file, body string
		want             string // Tag()
		snapshot         bool
		line, col        int
	}{
		{"maven snapshot", "pom.xml", `<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><version>9.9.9</version></parent>
  <artifactId>cockpit</artifactId>
  <version>3.0.0-SNAPSHOT</version>
  <dependencies><dependency><version>1.0.0</version></dependency></dependencies>
</project>`, "3.0.0", true, 5, 12},
		{"maven parent version", "pom.xml", `<project>
  <parent>
    <version>
      4.1.32
    </version>
  </parent>
</project>`, "4.1.32", false, 4, 7},
		{"maven ${revision}", "pom.xml", `<project>
  <version>${revision}</version>
  <properties><revision>1.5.0-SNAPSHOT</revision></properties>
</project>`, "1.5.0", true, 3, 25},
		{"package.json", "package.json", `{
  "name": "webui",
  "dependencies": {"version": "0.0.1"},
  "version": "2.4.1"
}`, "2.4.1", false, 4, 15},
		{"VERSION", "VERSION", "\n  1.2.3\n", "1.2.3", false, 2, 3},
		{"Chart.yaml", "Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.3.0\nappVersion: \"9\"\n", "0.3.0", false, 3, 10},
		{"Cargo.toml", "Cargo.toml", "[package]\nname = \"x\"\nversion = \"0.9.0-alpha.1\"\n\n[dependencies]\nserde = { version = \"1\" }\n", "0.9.0-alpha.1", false, 3, 12},
		{"pyproject.toml", "pyproject.toml", "[tool.black]\nversion = 'nope'\n[project]\nversion = '1.0.0'\n", "1.0.0", false, 4, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.body)
			v, err := ReadVersion(p)
			if err != nil {
				t.Fatal(err)
			}
			if v.Tag() != tt.want || v.Snapshot != tt.snapshot || v.Line != tt.line || v.Column != tt.col {
				t.Fatalf("ReadVersion = %s (snapshot %v) at %d:%d, want %s (snapshot %v) at %d:%d",
					v.Tag(), v.Snapshot, v.Line, v.Column, tt.want, tt.snapshot, tt.line, tt.col)
			}
		})
	}
}

func TestReadVersionErrors(t *testing.T) {
	tests := []struct {
		name, file, body string
		want             string // after the file path
	}{
		{"not semver", "VERSION", "\nnightly\n", `:2:1: version "nightly" is not semver`},
		{"pom without version", "pom.xml", "<project><artifactId>x</artifactId></project>", ": no <version> in <project>"},
		{"pom broken", "pom.xml", "<project>\n<version>1</versio>\n</project>", ":2:"},
		{"pom bad semver", "pom.xml", "<project>\n  <version>1.x.y</version>\n</project>", `:2:12: version "1.x.y" is not semver`},
		{"pom missing property", "pom.xml", "<project><version>${rev}</version></project>", `property "rev"`},
		{"package.json without version", "package.json", `{"name": "x"}`, `: no top-level "version"`},
		{"package.json number", "package.json", "{\n \"version\": 3}", `:2:13: "version" must be a string`},
		{"package.json syntax", "package.json", "{\n \"version\": }", ":2:"},
		{"Chart.yaml without version", "Chart.yaml", "name: x\n", ": no top-level version"},
		{"Chart.yaml broken", "Chart.yaml", "name: x\nversion: [1.0\n", ":3:1: invalid YAML: did not find expected ',' or ']'"},
		{"Cargo workspace", "Cargo.toml", "[package]\nversion.workspace = true\n", "takes its version from the workspace"},
		{"empty VERSION", "VERSION", "\n\n", ": the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.body)
			_, err := ReadVersion(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %s and contain %q", err, p, tt.want)
			}
		})
	}
	if _, err := ReadVersion(filepath.Join(t.TempDir(), "VERSION")); err == nil || !strings.Contains(err.Error(), "VERSION") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestRefs(t *testing.T) {
	v := Vars{Version: mustVersion(t, "3.0.0-SNAPSHOT"), Ref: "main", SHA: strings.Repeat("ab", 20)}
	got, err := Refs("127.0.0.1:5000/gravitee/cockpit", []string{
		"{version}-nightly",
		"{branch_slug}-{short_sha}",
		"other.example:443/mirror/cockpit:{version}",
		"{version}-nightly", // duplicate
	}, v)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"127.0.0.1:5000/gravitee/cockpit:3.0.0-nightly",
		"127.0.0.1:5000/gravitee/cockpit:main-abababa",
		"other.example:443/mirror/cockpit:3.0.0",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Refs = %v, want %v", got, want)
	}
	if got, _ := Refs("app", nil, v); len(got) != 1 || got[0] != "app:latest" {
		t.Fatalf("Refs without templates = %v", got)
	}
	for tmpl, msg := range map[string]string{
		"{version}":             "no image repository",
		"reg/{branch}:x":        "placeholders go in the tag",
		"reg/app":               "needs a \":\"",
		"reg/app:{nope}":        "unknown placeholder {nope}",
		"reg/app:{pipeline_id}": "CI_PIPELINE_ID",
	} {
		if _, err := Refs("", []string{tmpl}, v); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Refs(%q): error %v, want it to mention %q", tmpl, err, msg)
		}
	}
}
