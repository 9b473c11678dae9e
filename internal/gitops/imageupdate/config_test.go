package imageupdate_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
)

const goodConfig = `
sources:                      # read by GitOps reconciliation, not here
  - {name: deploy, anything: goes}
deployments: {}
imagePolicies:
  - name: app
    image: 127.0.0.1:5000/team/app
    credentials_ref: env:REGISTRY_AUTH
    policy:
      semver:
        range: ">=1.0.0 <2.0.0"
    pinDigest: true
  - name: main
    image: 127.0.0.1:5000/team/app
    filterTags:
      pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'
      extract: '$ts'
    policy: {numerical: {order: asc}}
imageUpdates:
  - name: staging
    url: ../deploy
    path: clusters/staging
    author: {name: Image Bot, email: bot@example.com}
    interval: 1m
  - name: remote
    url: git@example.com:team/deploy.git
    branch: release
    pushBranch: images/release
`

func TestParseConfig(t *testing.T) {
	c, err := imageupdate.ParseConfig("/etc/slipway/gitops.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policies) != 2 || c.Policies[0].Name != "app" || !c.Policies[0].PinDigest || c.Policies[1].Name != "main" {
		t.Fatalf("policies: %+v", c.Policies)
	}
	if len(c.Updates) != 2 {
		t.Fatalf("updates: %+v", c.Updates)
	}
	s, r := c.Updates[0], c.Updates[1]
	if s.URL != filepath.Clean("/etc/deploy") || s.Branch != "main" || s.PushBranch != "main" || s.Path != "clusters/staging" ||
		s.AuthorName != "Image Bot" || s.AuthorEmail != "bot@example.com" || s.Interval != time.Minute {
		t.Errorf("staging: %+v", s)
	}
	if r.URL != "git@example.com:team/deploy.git" || r.Branch != "release" || r.PushBranch != "images/release" || r.Path != "." ||
		r.AuthorName != imageupdate.DefaultAuthorName || r.Interval != imageupdate.DefaultInterval {
		t.Errorf("remote: %+v", r)
	}
}

func TestParseConfigErrorsNameFileLineColumnAndField(t *testing.T) {
	policy := "imagePolicies:\n  - name: app\n    image: reg/app\n"
	for _, tc := range []struct{ yaml, want string }{
		{"imagePolicy: []\n", "g.yaml:1:1: imagePolicy: unknown top-level key"},
		{policy + "    policy: {semver: {range: '>=1.0.0 <<2'}}\n", `g.yaml:4:30: imagePolicies[0].policy.semver.range: ">=1.0.0 <<2" is not a semver range`},
		{policy + "    policy: {semver: {rnage: '>=1'}}\n", "g.yaml:4:23: imagePolicies[0].policy.semver.rnage: unknown field (want range)"},
		{policy + "    policy: {semver: {range: '>=1'}, alphabetical: {}}\n", "g.yaml:4:13: imagePolicies[0].policy: want exactly one of semver, numerical, alphabetical"},
		{policy + "    policy: {numerical: {order: up}}\n", `g.yaml:4:33: imagePolicies[0].policy.numerical.order: "up": want asc or desc`},
		{policy + "    policy: {semver: {range: '>=1'}}\n    filterTags: {pattern: '(x'}\n", "g.yaml:5:27: imagePolicies[0].filterTags.pattern: error parsing regexp"},
		{policy + "    policy: {semver: {range: '>=1'}}\n    filterTags: {pattern: '-(?P<ts>[0-9]+)$', extract: '$tz'}\n",
			`g.yaml:5:56: imagePolicies[0].filterTags.extract: "$tz": the pattern has no group "tz"`},
		{policy + "    policy: {semver: {range: '>=1'}}\n    pinDigest: maybe\n", "g.yaml:5:16: imagePolicies[0].pinDigest: want true or false"},
		{policy + "    policy: {semver: {range: '>=1'}}\n    credentials_ref: REG_AUTH\n", `g.yaml:5:22: imagePolicies[0].credentials_ref: "REG_AUTH": want env:NAME`},
		{policy + "    policy: {semver: {range: '>=1'}}\n    tags: [1]\n", "g.yaml:5:5: imagePolicies[0].tags: unknown field"},
		{policy + "    policy: {semver: {range: '>=1'}}\n  - name: app\n    image: reg/b\n    policy: {semver: {range: '>=1'}}\n",
			`g.yaml:5:11: imagePolicies[1].name: "app" is the name of an earlier policy`},
		{"imagePolicies:\n  - image: reg/app\n    policy: {semver: {range: '>=1'}}\n", "g.yaml:2:5: imagePolicies[0].name: is required"},
		{"imageUpdates:\n  - name: u\n", "g.yaml:2:5: imageUpdates[0].url: is required"},
		// The name is a segment of the API's and the page's URLs (POST /api/gitops/images/{update}/run).
		{"imageUpdates:\n  - name: team/app\n    url: x\n", `g.yaml:2:11: imageUpdates[0].name: "team/app": want letters, digits, '.', '_' and '-'`},
		{"imageUpdates:\n  - name: u\n    url: x\n    branch: '-f'\n", `g.yaml:4:13: imageUpdates[0].branch: "-f" is not a valid branch name`},
		{"imageUpdates:\n  - name: u\n    url: x\n    pushBranch: a..b\n", `g.yaml:4:17: imageUpdates[0].pushBranch: "a..b" is not a valid branch name`},
		{"imageUpdates:\n  - name: u\n    url: x\n    path: ../up\n", `g.yaml:4:11: imageUpdates[0].path: "../up" must be relative`},
		{"imageUpdates:\n  - name: u\n    url: x\n    interval: soon\n", `g.yaml:4:15: imageUpdates[0].interval: "soon": want a duration of at least 1s`},
		// A run clones and pushes: under a second, --watch and the server would hammer git and the registry.
		{"imageUpdates:\n  - name: u\n    url: x\n    interval: 10ms\n", `g.yaml:4:15: imageUpdates[0].interval: "10ms": want a duration of at least 1s`},
		{"imageUpdates:\n  - name: u\n    url: x\n    message: '{{.Nope}}'\n", `g.yaml:4:14: imageUpdates[0].message: template: message:1:2: executing "message" at <.Nope>`},
		{"imageUpdates:\n  - name: u\n    url: x\n    author: {name: a, mail: b}\n", "g.yaml:4:23: imageUpdates[0].author.mail: unknown field (want name, email)"},
		{"imageUpdates:\n  - {name: u, url: x}\n  - {name: u, url: y}\n", `g.yaml:3:12: imageUpdates[1].name: "u" is the name of an earlier update`},
		{"imageUpdates: {name: u}\n", "g.yaml:1:15: imageUpdates: want a list"},
		{"imageUpdates:\n  - [1]\n", "g.yaml:2:5: imageUpdates[0]: want a mapping"},
	} {
		_, err := imageupdate.ParseConfig("g.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\ngot  %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
