package slug

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var refShape = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Cases checked against GitLab's Gitlab::Utils.slugify
// (str.downcase.gsub(/[^a-z0-9]/, '-')[0..62].gsub(/(\A-+|-+\z)/, ”),
// the rule docs.gitlab.com/ci/variables/predefined_variables gives for
// CI_COMMIT_REF_SLUG).
func TestRef(t *testing.T) {
	tests := []struct{ in, want string }{
		{"main", "main"},
		{"Feature/Login-Page", "feature-login-page"},
		{"feature/a__b", "feature-a--b"},
		{"release/v1.2.3", "release-v1-2-3"},
		{"-leading-and-trailing-", "leading-and-trailing"},
		{"__init__", "init"},
		{"Ünïcödé", "n-c-d"},
		{"日本語", ""},
		{"", ""},
		{"v1.0", "v1-0"},
		{"UPPER", "upper"},
		{"Feature/../../etc; rm -rf $HOME", "feature-------etc--rm--rf--home"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		// cut at 63 bytes first, then the trailing "-" goes
		{strings.Repeat("a", 62) + "/bc", strings.Repeat("a", 62)},
		{"a\x00b\xffc", "a-b-c"},
	}
	for _, tt := range tests {
		got := Ref(tt.in)
		if got != tt.want {
			t.Errorf("Ref(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && !refShape.MatchString(got) {
			t.Errorf("Ref(%q) = %q, not a DNS label", tt.in, got)
		}
	}
}

func TestLabelFoldsRuns(t *testing.T) {
	for in, want := range map[string]string{
		"feature/a__b":                    "feature-a-b",
		"Feature/../../etc; rm -rf $HOME": "feature-etc-rm-rf-home",
		"main":                            "main",
		"__init__":                        "init",
	} {
		if got := Label(in); got != want || (got != "" && !refShape.MatchString(got)) {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	// GitLab's own examples (spec/lib/gitlab/slug/environment_spec.rb), with
	// the suffix each name really gets from its SHA-256 (computed
	// independently: int(sha256(name).hexdigest(), 16) in base 36, last 6).
	tests := []struct{ in, want string }{
		{"production", "production"},
		{"staging-1234567890123456", "staging-1234567890123456"},
		{"foo-", "foo"},
		{"staging-12345678-", "staging-12345678"},
		{"PRODUCTION", "production-vl4voz"},
		{"1-foo", "env-1-foo-1k46wz"},
		{"review/feature-x", "review-feature-x-bjrazc"},
		{"", "env-qhkd3p"},
		{"Feature/../../etc; rm -rf $HOME", "feature-etc-rm-rf-j1hwov"},
	}
	for _, tt := range tests {
		if got := Environment(tt.in); got != tt.want {
			t.Errorf("Environment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnvironmentShapes(t *testing.T) {
	// The rest of GitLab's table, whose suffixes there come from a stubbed
	// digest: check the part before the suffix and the suffix's form.
	tests := []struct{ in, prefix string }{
		{"staging-12345678901234567", "staging-123456789-"},
		{"9-staging-123456789012345", "env-9-staging-123-"},
		{"staging-1234567890123456-", "staging-123456789-"},
		{"review/1-foo", "review-1-foo-"},
		{"1/foo", "env-1-foo-"},
		{"foo--bar", "foo-bar-"},
		{"foo**bar", "foo-bar-"},
		{"*-foo", "env-foo-"},
		{"staging-12345678-01234567", "staging-12345678-"},
	}
	suffixShape := regexp.MustCompile(`^[a-z0-9]{6}$`)
	for _, tt := range tests {
		got := Environment(tt.in)
		rest, ok := strings.CutPrefix(got, tt.prefix)
		if !ok || !suffixShape.MatchString(rest) {
			t.Errorf("Environment(%q) = %q, want %s + 6 characters", tt.in, got, tt.prefix)
		}
	}
}

func TestSuffixFromDigest(t *testing.T) {
	// GitLab's spec: ('a' * 64).to_i(16).to_s(36).last(6) gives 'q517sa'.
	if got := suffix(strings.Repeat("a", 64)); got != "q517sa" {
		t.Errorf("suffix = %q, want q517sa", got)
	}
}

func FuzzRef(f *testing.F) {
	for _, s := range []string{"main", "Feature/../../etc; rm -rf $HOME", "-", "", "日本語", strings.Repeat("-a", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Ref(s)
		if len(got) > RefMaxLen {
			t.Fatalf("Ref(%q) = %q, longer than %d", s, got, RefMaxLen)
		}
		if got == "" {
			// As GitLab cuts before it trims, only names whose first 63
			// characters (after lower-casing) hold no ASCII letter or
			// digit may give an empty slug.
			n := 0
			for _, r := range strings.ToLower(s) {
				if n++; n > RefMaxLen {
					break
				}
				if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
					t.Fatalf("Ref(%q) is empty", s)
				}
			}
			return
		}
		if !refShape.MatchString(got) {
			t.Fatalf("Ref(%q) = %q", s, got)
		}
		if Ref(got) != got {
			t.Fatalf("Ref is not idempotent on %q", got)
		}
		if l := Label(s); strings.Contains(l, "--") || Label(l) != l || (l != "" && !refShape.MatchString(l)) {
			t.Fatalf("Label(%q) = %q", s, l)
		} else if l == "" && strings.ContainsFunc(strings.ToLower(s), func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' }) {
			t.Fatalf("Label(%q) is empty", s)
		}
	})
}

func FuzzEnvironment(f *testing.F) {
	for _, s := range []string{"production", "review/x", "", "9", "a-", strings.Repeat("x", 30)} {
		f.Add(s)
	}
	envShape := regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	f.Fuzz(func(t *testing.T, s string) {
		got := Environment(s)
		if len(got) > EnvironmentMaxLen || !envShape.MatchString(got) || strings.Contains(got, "--") {
			t.Fatalf("Environment(%q) = %q", s, got)
		}
	})
}
