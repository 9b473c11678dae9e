package expr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func vars(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// The variables of GitLab's own statement spec.
var specVars = vars(map[string]string{
	"PRESENT_VARIABLE":   "my variable",
	"PATH_VARIABLE":      "a/path/variable/value",
	"FULL_PATH_VARIABLE": "/a/full/path/variable/value",
	"EMPTY_VARIABLE":     "",
	"teststring":         "abcde",
	"pattern1":           "/^ab.*/",
	"pattern2":           "/^at.*/",
})

// TestValues checks the value GitLab's evaluator computes (before its final
// present? test), for the cases of GitLab's statement spec: && and || give
// back one of their operands, like Ruby.
func TestValues(t *testing.T) {
	str := func(s string) value { return value{kind: kString, s: s} }
	boolean := func(b bool) value { return value{kind: kBool, b: b} }
	null := value{}
	tests := []struct {
		in   string
		want value
	}{
		{`$PRESENT_VARIABLE == "my variable"`, boolean(true)},
		{`"my variable" == $PRESENT_VARIABLE`, boolean(true)},
		{`$PRESENT_VARIABLE == null`, boolean(false)},
		{`$EMPTY_VARIABLE == null`, boolean(false)},
		{`"" == $EMPTY_VARIABLE`, boolean(true)},
		{`$EMPTY_VARIABLE`, str("")},
		{`$UNDEFINED_VARIABLE == null`, boolean(true)},
		{`null == $UNDEFINED_VARIABLE`, boolean(true)},
		{`$PRESENT_VARIABLE`, str("my variable")},
		{`$UNDEFINED_VARIABLE`, null},
		{`$PRESENT_VARIABLE =~ /var.*e$/`, boolean(true)},
		{`$PRESENT_VARIABLE =~ /va\r.*e$/`, boolean(false)},
		{`$PRESENT_VARIABLE =~ /va\/r.*e$/`, boolean(false)},
		{`$PRESENT_VARIABLE =~ /^var.*/`, boolean(false)},
		{`$EMPTY_VARIABLE =~ /var.*/`, boolean(false)},
		{`$UNDEFINED_VARIABLE =~ /var.*/`, boolean(false)},
		{`$PRESENT_VARIABLE =~ /VAR.*/i`, boolean(true)},
		{`$PATH_VARIABLE =~ /path\/variable/`, boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/`, boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /\/path\/variable\/value$/`, boolean(true)},
		{`$PRESENT_VARIABLE != "my variable"`, boolean(false)},
		{`"my variable" != $PRESENT_VARIABLE`, boolean(false)},
		{`$PRESENT_VARIABLE != null`, boolean(true)},
		{`$EMPTY_VARIABLE != null`, boolean(true)},
		{`"" != $EMPTY_VARIABLE`, boolean(false)},
		{`$UNDEFINED_VARIABLE != null`, boolean(false)},
		{`null != $UNDEFINED_VARIABLE`, boolean(false)},
		{`$PRESENT_VARIABLE !~ /var.*e$/`, boolean(false)},
		{`$PRESENT_VARIABLE !~ /^var.*/`, boolean(true)},
		{`$PRESENT_VARIABLE !~ /^v\ar.*/`, boolean(true)},
		{`$PRESENT_VARIABLE !~ /^v\/ar.*/`, boolean(true)},
		{`$EMPTY_VARIABLE !~ /var.*/`, boolean(true)},
		{`$UNDEFINED_VARIABLE !~ /var.*/`, boolean(true)},
		{`$PRESENT_VARIABLE !~ /VAR.*/i`, boolean(false)},

		{`$PRESENT_VARIABLE && "string"`, str("string")},
		{`$PRESENT_VARIABLE && $PRESENT_VARIABLE`, str("my variable")},
		{`$PRESENT_VARIABLE && $EMPTY_VARIABLE`, str("")},
		{`$PRESENT_VARIABLE && null`, null},
		{`"string" && $PRESENT_VARIABLE`, str("my variable")},
		{`$EMPTY_VARIABLE && $PRESENT_VARIABLE`, str("my variable")},
		{`null && $PRESENT_VARIABLE`, null},
		{`$EMPTY_VARIABLE && "string"`, str("string")},
		{`$EMPTY_VARIABLE && $EMPTY_VARIABLE`, str("")},
		{`"string" && $EMPTY_VARIABLE`, str("")},
		{`"string" && null`, null},
		{`null && "string"`, null},
		{`"string" && "string"`, str("string")},
		{`null && null`, null},

		{`$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/`, boolean(false)},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE`, str("my variable")},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE != "nope"`, boolean(true)},
		{`$PRESENT_VARIABLE && $UNDEFINED_VARIABLE`, null},
		{`$UNDEFINED_VARIABLE && $EMPTY_VARIABLE`, null},
		{`$UNDEFINED_VARIABLE && $PRESENT_VARIABLE`, null},

		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ && $PATH_VARIABLE =~ /path\/variable/`, boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ && $PATH_VARIABLE =~ /path\/variable/`, boolean(false)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ && $PATH_VARIABLE =~ /bad\/path\/variable/`, boolean(false)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ || $PATH_VARIABLE =~ /path\/variable/`, boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /path\/variable/`, boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /bad\/path\/variable/`, boolean(false)},

		{`$PRESENT_VARIABLE =~ /my var/ || $EMPTY_VARIABLE =~ /nope/`, boolean(true)},
		{`$EMPTY_VARIABLE == "" || $PRESENT_VARIABLE`, boolean(true)},
		{`$PRESENT_VARIABLE != "nope" || $EMPTY_VARIABLE == ""`, boolean(true)},
		{`$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == ""`, boolean(true)},
		{`$PRESENT_VARIABLE || $UNDEFINED_VARIABLE`, str("my variable")},
		{`$UNDEFINED_VARIABLE || $PRESENT_VARIABLE`, str("my variable")},
		{`$UNDEFINED_VARIABLE == null || $PRESENT_VARIABLE`, boolean(true)},
		{`$PRESENT_VARIABLE || $UNDEFINED_VARIABLE == null`, str("my variable")},

		{`($PRESENT_VARIABLE)`, str("my variable")},
		{`(($PRESENT_VARIABLE))`, str("my variable")},
		{`(($PRESENT_VARIABLE && null) || $EMPTY_VARIABLE == "")`, boolean(true)},
		{`($PRESENT_VARIABLE) && (null || $EMPTY_VARIABLE == "")`, boolean(true)},
		{`("string" || "test") == "string"`, boolean(true)},
		{`(null || ("test" == "string"))`, boolean(false)},
		{`("string" == ("test" && "string"))`, boolean(true)},
		{`("string" == ("test" || "string"))`, boolean(false)},
		{`("string" == "test" || "string")`, str("string")},
		{`("string" == ("string" || (("1" == "1") && ("2" == "3"))))`, boolean(true)},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		got, err := eval(e.root, specVars)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestEval covers what users check: whether a rule's `if` holds. Cases from
// GitLab's documentation ("CI/CD variable expressions") and statement spec.
func TestEval(t *testing.T) {
	v := vars(map[string]string{
		"CI_COMMIT_BRANCH":   "main",
		"CI_DEFAULT_BRANCH":  "main",
		"CI_PIPELINE_SOURCE": "push",
		"CI_COMMIT_TITLE":    "Merge branch 'feature' into 'main'",
		"CI_COMMIT_TAG":      "",
		"MY_VARIABLE":        "yes",
		"EMPTY":              "",
		"BLANK":              " \t",
		"PRESENT":            "my variable",
		"teststring":         "abcde",
		"pattern":            "/^ab.*/",
		"pattern_i":          "/^AB/i",
		"not_a_pattern":      "1234",
		"short":              "23",
		"slashed":            "/23/",
		"invalid_re":         "/a(/",
		"with_var":           "/$teststring/",
		"CI_JOB_NAME":        "regex-job1",
		"string1":            "regex-job1",
		"one_char":           "/b/",
	})
	tests := []struct {
		in   string
		want bool
	}{
		{`$CI_PIPELINE_SOURCE == "push"`, true},
		{`$CI_PIPELINE_SOURCE == 'push'`, true},
		{`"push" == $CI_PIPELINE_SOURCE`, true},
		{`$CI_PIPELINE_SOURCE != "schedule"`, true},
		{`$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`, true},
		{`$CI_COMMIT_BRANCH != $CI_DEFAULT_BRANCH`, false},
		{`$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_COMMIT_TITLE =~ /Merge branch.*/`, true},
		{`$CI_COMMIT_BRANCH`, true},
		{`$CI_COMMIT_TAG`, false}, // defined but empty
		{`$UNDEFINED`, false},
		{`$BLANK`, false}, // GitLab's present?: white space only is blank
		{`$UNDEFINED == null`, true},
		{`$EMPTY == null`, false},
		{`$EMPTY == ""`, true},
		{`$UNDEFINED == ""`, false},
		{`$EMPTY != null`, true},
		{`$UNDEFINED != null`, false},
		{`${MY_VARIABLE} == "yes"`, true},
		{`($CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH || $CI_COMMIT_BRANCH == "develop") && $MY_VARIABLE`, true},
		{`($CI_COMMIT_BRANCH == "x" || $CI_COMMIT_BRANCH == "develop") && $MY_VARIABLE`, false},
		// && binds tighter than ||
		{`$MY_VARIABLE || $UNDEFINED && $UNDEFINED`, true},
		{`($MY_VARIABLE || $UNDEFINED) && $UNDEFINED`, false},
		{`$UNDEFINED && $UNDEFINED || $MY_VARIABLE`, true},
		// Ruby's ||: a defined but empty left side is returned as is.
		{`$EMPTY || $MY_VARIABLE`, false},
		{`$UNDEFINED || $MY_VARIABLE`, true},
		// Patterns: RE2, flags, escaped slashes, case sensitivity.
		{`$CI_COMMIT_BRANCH =~ /^ma/`, true},
		{`$CI_COMMIT_BRANCH =~ /^MA/`, false},
		{`$CI_COMMIT_BRANCH =~ /^MA/i`, true},
		{`$CI_COMMIT_BRANCH !~ /^ma/`, false},
		{`$CI_COMMIT_TITLE =~ /'feature'/`, true},
		{`$PRESENT =~ /(?i)MY VAR/`, true},
		{`$PRESENT =~ /^my\svariable$/`, true},
		{`$CI_COMMIT_TAG =~ /^v*/`, true}, // empty text, empty match
		{`$UNDEFINED =~ /^v*/`, true},
		{`$UNDEFINED =~ /^.$/s`, false},
		// A variable on the right is a pattern when written /re/flags.
		{`$teststring =~ $pattern`, true},
		{`$teststring !~ $pattern`, false},
		{`"ABC" =~ $pattern_i`, true},
		{`$teststring =~ "abcde"`, true},
		{`$teststring =~ $teststring`, true},
		{`"1234" =~ $slashed`, true},
		{`$one_char =~ $one_char`, true}, // the text "/b/" matches /b/
		// Otherwise GitLab checks that the left side is a substring of the
		// right side (its documented quirk).
		{`$short =~ $not_a_pattern`, true},  // "23" =~ "1234"
		{`$not_a_pattern =~ $short`, false}, // "1234" =~ "23"
		{`"23" =~ "1234"`, true},
		{`"23" =~ /1234/`, false},
		{`$slashed =~ $not_a_pattern`, false},
		{`"x" =~ $invalid_re`, false}, // an invalid pattern is a string: substring?
		{`"/a(" =~ $invalid_re`, true},
		{`"abc" =~ "/^a/"`, true}, // a quoted pattern is a pattern too
		// Undefined right side: =~ never holds, !~ always does.
		{`$teststring =~ $UNDEFINED`, false},
		{`$teststring !~ $UNDEFINED`, true},
		{`$teststring =~ null`, false},
		{`$teststring !~ null`, true},
		// Undefined left side against a string: "" is in every string.
		{`$UNDEFINED =~ "anything"`, true},
		{`$UNDEFINED !~ "anything"`, false},
		// Variables inside a pattern are not resolved (GitLab's docs).
		{`$CI_JOB_NAME =~ /$string1/`, false},
		{`$teststring =~ $with_var`, false},
		{`"$teststring" =~ $with_var`, false}, // $ is an anchor there
		// Literals.
		{`"string"`, true},
		{`""`, false},
		{`null`, false},
		{`true`, true},
		{`false`, false},
		{`$MY_VARIABLE == true`, false},
		{`/abc/`, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		got, err := e.Eval(v)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestEvalError(t *testing.T) {
	e := MustParse(`$A =~ ($A == null)`)
	if _, err := e.Eval(vars(nil)); err == nil {
		t.Fatal("want an error for a comparison on the right of =~")
	}
	if e.Matches(vars(nil)) {
		t.Fatal("Matches must be false on error")
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		in      string
		col     int
		message string
	}{
		{``, 1, "empty"},
		{`   `, 1, "empty"},
		{`$INVALID = 1`, 10, "unknown operator"},
		{`$A ==`, 6, "unexpected end"},
		{`== $A`, 1, "unexpected =="},
		{`$A $B`, 4, "expected an operator"},
		{`$A == "x`, 7, "unterminated string"},
		{`$A == 'x"`, 7, "unterminated string"},
		{`$A =~ /./`, 7, "single-character"},
		{`$A =~ /a/`, 7, "single-character"},
		{`$A =~ /ab`, 7, "unterminated regular expression"},
		{`$A =~ /a(b/`, 7, "invalid regular expression"},
		{`$A =~ /ab/x`, 11, "unexpected"},
		{`($A == "x"`, 1, "never closed"},
		{`$A == "x")`, 10, "no ( to close"},
		{`()`, 2, "unexpected )"},
		{`($A $B)`, 5, "expected ) or an operator"},
		{`$`, 1, "a variable is"},
		{`${A`, 1, "a variable is"},
		{`$A & $B`, 4, "unknown operator"},
		{`$A == nope`, 7, "unexpected 'n'"},
		{`é == $A`, 1, "unexpected 'é'"},
		{`$A == "é" && ~`, 14, "unexpected '~'"},
		{strings.Repeat(`$A && `, 49) + `$A`, 0, ""},
		{strings.Repeat(`$A && `, 50) + `$A`, 298, "too many tokens"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if tt.message == "" {
			if err != nil {
				t.Errorf("Parse(%.30q...): %v", tt.in, err)
			}
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if se.Col != tt.col || !strings.Contains(se.Msg, tt.message) {
			t.Errorf("Parse(%q) = column %d %q, want column %d and %q", tt.in, se.Col, se.Msg, tt.col, tt.message)
		}
	}
}

func TestVariables(t *testing.T) {
	e := MustParse(`($B == $A || ${C} =~ $pattern) && $B != "$D"`)
	want := []string{"B", "A", "C", "pattern"}
	if got := e.Variables(); !reflect.DeepEqual(got, want) {
		t.Errorf("Variables() = %q, want %q", got, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{`$A=="x"`, `$A == "x"`},
		{`(($A))`, `$A`},
		{`${A} == 'say "hi"'`, `$A == 'say "hi"'`},
		{`$A =~ /a\/b/i&&$B`, `$A =~ /a\/b/i && $B`},
		{`($A || $B) && $C`, `($A || $B) && $C`},
		{`$A || ($B && $C)`, `$A || $B && $C`},
		{`$A == ($B == $C)`, `$A == ($B == $C)`},
		{`($A == $B) == $C`, `$A == $B == $C`},
		{`$A && ($B && $C)`, `$A && ($B && $C)`},
		{`null!=$A`, `null != $A`},
	}
	for _, tt := range tests {
		if got := MustParse(tt.in).String(); got != tt.want {
			t.Errorf("String(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
