package cleanup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
)

func TestKeepNAndOlderThanFollowGitLabOrder(t *testing.T) {
	p, err := cleanup.ParsePolicy("p.yaml", []byte(`
rules:
  - repositories: "team/**"
    keep_n: 1
    older_than: 7d
    name_regex_delete: ".*"
    name_regex_keep: "v.*"
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	day := 24 * time.Hour
	tags := []registry.TagInfo{
		{Tag: "latest", Pushed: now.Add(-30 * day)},
		{Tag: "v1", Pushed: now.Add(-30 * day)},      // name_regex_keep
		{Tag: "main-new", Pushed: now.Add(-1 * day)}, // the 1 most recent candidate
		{Tag: "main-mid", Pushed: now.Add(-3 * day)}, // younger than 7d
		{Tag: "main-old", Pushed: now.Add(-9 * day)}, // goes
		{Tag: "v", Pushed: now.Add(-40 * day)},       // keep matches the whole tag "v"
	}
	rule := p.RuleFor("team/app")
	if rule == nil || p.RuleFor("other/app") != nil {
		t.Fatal("the glob team/** must match team/app only")
	}
	var deleted []string
	for _, d := range cleanup.Decide("team/app", tags, rule, now) {
		if d.Delete {
			deleted = append(deleted, d.Tag)
		}
	}
	if strings.Join(deleted, ",") != "main-old" {
		t.Fatalf("deleted %v, want only main-old", deleted)
	}
}

func TestPolicyErrorsNamePositionAndField(t *testing.T) {
	for doc, want := range map[string]string{
		"rules:\n  - name_regex_delete: '('\n":                                                      "p.yaml:2:24: rules[0].name_regex_delete",
		"rules:\n  - name_regex_delete: '.*'\n    older_than: soon\n":                               "p.yaml:3:17: rules[0].older_than",
		"rules:\n  - name_regex_keep: 'v.*'\n":                                                      "p.yaml:2:5: rules[0].name_regex_delete: is required",
		"rules:\n  - name_regex_delete: '.*'\n    keep_last: 3\n":                                   "p.yaml:3:5: rules[0]: unknown key \"keep_last\"",
		"rules:\n  - name_regex_delete: '.*'\n    cadnce: 7d\n":                                     "p.yaml:3:5: rules[0]: unknown key \"cadnce\" (did you mean rules[0].cadence?)",
		"rules:\n  - name_regex_delete: '.*'\n    keep_n: ten\n":                                    "p.yaml:3:13: rules[0].keep_n: want a whole number",
		"rules:\n  - name_regex_delete: '.*'\n  - repositories: '**'\n    name_regex_delete: 'x'\n": "p.yaml:3:19: rules[1].repositories: \"**\" is the glob of rules[0] already",
	} {
		_, err := cleanup.ParsePolicy("p.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", doc, err, want)
		}
	}
}
