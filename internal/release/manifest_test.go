package release

import (
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

// seedManifest is the seed's example, with its last group declared.
const seedManifest = `{
    "name": "Gravitee.io",
    "version": "7.10.0-SNAPSHOT",
    "buildTimestamp": "2020-10-15T07:19:32+0000",
    "scmSshUrl": "git@github.com:gravitee-io",
    "scmHttpUrl": "https://github.com/gravitee-io/",
    "components": [
        {
            "name": "graviteek-cicd-test-maven-project-g1",
            "version": "4.1.32-SNAPSHOT",
            "pull-request": "pr-1589-spikearrest"
        },
        {
            "name": "graviteek-cicd-test-maven-project-g2",
            "version": "4.2.67-SNAPSHOT",
            "pull-request": "pr-84-json-weirdo"
        },
        {
            "name": "gravitee-common",
            "version": "1.18.0"
        },
        { "name": "gravitee-repository", "version": "3.5" },
        { "name": "gravitee-notifier-api", "version": "1.4.1" }
    ],
    "buildDependencies": [
        [ "graviteek-cicd-test-maven-project-g1" ],
        [ "graviteek-cicd-test-maven-project-g2" ],
        [ "gravitee-common" ],
        [ "gravitee-repository", "gravitee-notifier-api" ]
    ]
}
`

func TestParseSeedManifest(t *testing.T) {
	m, err := Parse("release.json", []byte(seedManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Gravitee.io" || m.Version != "7.10.0-SNAPSHOT" || m.SCMHTTPURL != "https://github.com/gravitee-io/" || m.SCMSSHURL != "git@github.com:gravitee-io" {
		t.Errorf("manifest = %+v", m)
	}
	if want := time.Date(2020, 10, 15, 7, 19, 32, 0, time.UTC); !m.BuildTimestamp.Equal(want) {
		t.Errorf("buildTimestamp = %v, want %v", m.BuildTimestamp, want)
	}
	if len(m.Components) != 5 {
		t.Fatalf("components = %+v", m.Components)
	}
	g1 := m.Component("graviteek-cicd-test-maven-project-g1")
	if g1 == nil || g1.Version != "4.1.32-SNAPSHOT" || g1.PullRequest != "pr-1589-spikearrest" || g1.Pos.Line != 8 {
		t.Errorf("g1 = %+v", g1)
	}
	if c := m.Component("gravitee-common"); c == nil || c.PullRequest != "" {
		t.Errorf("gravitee-common = %+v", c)
	}
	got := make([]string, len(m.Groups))
	for i, g := range m.Groups {
		got[i] = strings.Join(g, "+")
	}
	want := "graviteek-cicd-test-maven-project-g1 | graviteek-cicd-test-maven-project-g2 | gravitee-common | gravitee-repository+gravitee-notifier-api"
	if strings.Join(got, " | ") != want {
		t.Errorf("groups = %q", got)
	}
}

func TestParseYAMLManifest(t *testing.T) {
	m, err := Parse("release.yml", []byte(`
name: shop
version: 2.0.0
scmHttpUrl: https://git.example.com/shop
components:
  - {name: api, version: 2.0.1}
  - name: web
    version: 2.1.0-SNAPSHOT
    pull-request: feature/cart
buildDependencies:
  - [api]
  - [web]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Groups) != 2 || m.Groups[1][0] != "web" || m.Component("web").PullRequest != "feature/cart" {
		t.Errorf("manifest = %+v", m)
	}
}

func TestManifestErrorsHavePositions(t *testing.T) {
	for _, tc := range []struct {
		name, file, data string
		want             []string
	}{
		{
			name: "unknown component in a group",
			file: "r.json",
			data: `{"name": "r", "version": "1.0.0",
 "components": [{"name": "a", "version": "1.0.0"}],
 "buildDependencies": [["a"], ["a-typo"]]}`,
			want: []string{`r.json:3:32: buildDependencies group 2: unknown component "a-typo" (not in components)`},
		},
		{
			name: "component in no group",
			file: "r.yml",
			data: "name: r\nversion: 1.0.0\ncomponents:\n  - name: a\n    version: 1.0.0\n  - name: b\n    version: 1.0.0\nbuildDependencies:\n  - [a]\n",
			want: []string{`r.yml:6:11: component "b" is in no group of buildDependencies`},
		},
		{
			name: "duplicates",
			file: "r.yml",
			data: "name: r\nversion: 1.0.0\ncomponents:\n  - {name: a, version: 1.0.0}\n  - {name: a, version: 1.1.0}\nbuildDependencies:\n  - [a, a]\n",
			want: []string{
				`r.yml:5:12: components: "a" is declared twice (first at line 4)`,
				`r.yml:7:9: buildDependencies group 1: component "a" is already in group 1`,
			},
		},
		{
			name: "bad versions",
			file: "r.yml",
			data: "name: r\nversion: seven\ncomponents:\n  - {name: a, version: 4.1.x}\n  - {name: b, version: 4.1.32-SNAPSHOT}\nbuildDependencies: [[a, b]]\n",
			want: []string{
				`r.yml:2:10: release: version "seven" is not a semantic version`,
				`r.yml:4:24: component a: version "4.1.x" is not a semantic version`,
			},
		},
		{
			name: "missing and unknown fields",
			file: "r.yml",
			data: "version: 1.0.0\ncomponents:\n  - {name: a}\n  - {name: 'x y', version: 1.0.0, pull_request: b}\nbuildDependencies: [[a]]\nbuild: []\n",
			want: []string{
				`r.yml:1:1: release: name is required`,
				`r.yml:3:5: component a: version is required`,
				`r.yml:4:12: component name "x y": use letters, digits`,
				`r.yml:4:12: component "x y" is in no group of buildDependencies`,
				`r.yml:4:35: component: unknown field "pull_request"`,
				`r.yml:6:1: release manifest: unknown field "build"`,
			},
		},
		{
			name: "bad pull-request branch and timestamp",
			file: "r.yml",
			data: "name: r\nversion: 1.0.0\nbuildTimestamp: yesterday\ncomponents:\n  - {name: a, version: 1.0.0, pull-request: '--upload-pack=x'}\nbuildDependencies: [[a]]\n",
			want: []string{
				`r.yml:3:17: release: buildTimestamp "yesterday"`,
				`r.yml:5:45: component a: pull-request "--upload-pack=x" is not a valid branch name`,
			},
		},
		{
			name: "JSON syntax",
			file: "r.json",
			data: "{\n  \"name\": \"r\",\n  \"version\": \"1.0.0\"\n  \"components\": []\n}\n",
			want: []string{`r.json:4:3: invalid JSON or YAML: did not find expected ',' or '}' (in a flow mapping that starts at 1:1)`},
		},
		{
			name: "not an object",
			file: "r.yml",
			data: "- a\n",
			want: []string{`r.yml:1:1: release manifest must be an object`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file, []byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			got := ci.Errors(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(got[i].Error(), want) {
					t.Errorf("error %d = %q\nwant prefix %q", i, got[i].Error(), want)
				}
			}
		})
	}
}

func TestMaintenanceBranch(t *testing.T) {
	for v, want := range map[string]string{
		"4.1.32-SNAPSHOT": "4.1.x",
		"1.18.0":          "1.18.x",
		"3.5":             "3.5.x",
		"2":               "2.0.x",
		"nope":            "",
	} {
		if got := MaintenanceBranch(v); got != want {
			t.Errorf("MaintenanceBranch(%q) = %q, want %q", v, got, want)
		}
	}
}
