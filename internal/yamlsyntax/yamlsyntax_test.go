package yamlsyntax

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLocate: each syntax error gets the line and column of the problem,
// and of the construct it is in, where yaml.v3 gave a line at most.
func TestLocate(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		// The sequence opened at 2:11 never closes: the text ends at 3:1.
		{"job:\n  script: [a\n", `3:1: did not find expected ',' or ']' (in a flow sequence that starts at 2:11)`},
		{"job:\n  script: \"a\n", `3:1: found unexpected end of stream (in a quoted scalar that starts at 2:11)`},
		{"sources:\n  - name: a\n   url: x\n", `3:4: did not find expected '-' indicator (in a block collection that starts at 2:3)`},
		{"a: b\n\tc: d\n", `2:1: found a tab character that violates indentation (in a plain scalar that starts at 1:4)`},
		{"a: *nope\n", `1:4: unknown anchor 'nope' referenced`},
		{"key: value: other\n", `1:11: mapping values are not allowed in this context`},
		{"a: [1, 2]]\n", `1:10: did not find expected key (in a block mapping that starts at 1:1)`},
		{"{\n  \"name\": \"r\",\n  \"version\": \"1.0.0\"\n  \"components\": []\n}\n", `4:3: did not find expected ',' or '}' (in a flow mapping that starts at 1:1)`},
	} {
		var n yaml.Node
		v3err := yaml.Unmarshal([]byte(c.doc), &n)
		if v3err == nil {
			t.Fatalf("%q: yaml.v3 found no error", c.doc)
		}
		if got := Locate([]byte(c.doc), v3err).Error(); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.doc, got, c.want)
		}
	}
}

// TestLocateFallsBackToYAMLv3: when v4 reads the text, what yaml.v3 said
// stays, placed at its line's start.
func TestLocateFallsBackToYAMLv3(t *testing.T) {
	if got := Locate([]byte("a: 1\n"), errors.New("yaml: line 3: boom")).Error(); got != "3:1: boom" {
		t.Errorf("got %q", got)
	}
	if got := Locate([]byte("a: 1\n"), errors.New("yaml: boom")).Error(); got != "boom" {
		t.Errorf("got %q", got)
	}
}
