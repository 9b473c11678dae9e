package expr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dump prints the tree with every binary node in parentheses, so two
// expressions with the same dump have the same structure.
func dump(n node) string {
	switch n := n.(type) {
	case binNode:
		return fmt.Sprintf("(%s %s %s)", dump(n.l), n.op, dump(n.r))
	case varNode:
		return "$" + n.name
	case strNode:
		return fmt.Sprintf("%q", n.val)
	case patNode:
		return "pattern:" + n.src
	case boolNode:
		return fmt.Sprint(n.val)
	}
	return "null"
}

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxError with a column inside the input (or just after it), that
// String gives an expression that parses back to the same tree, and that
// evaluating never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`$CI_COMMIT_BRANCH == "main"`,
		`$A =~ /^feat\/.*$/i && ($B || $C != null)`,
		`("string" == ("test" && "string"))`,
		`$A =~ $B || '' == $C`,
		`${A} !~ /a//`,
		`true && false || null`,
		`$A == "x`, `/./`, `((`, `))`, `$A $B`,
	} {
		f.Add(s)
	}
	lookup := vars(map[string]string{"A": "/a/", "B": "", "C": "feat/x"})
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %v is not a *SyntaxError", s, err)
			}
			if se.Col < 1 || se.Col > len([]rune(s))+1 {
				t.Fatalf("Parse(%q): column %d out of range", s, se.Col)
			}
			return
		}
		printed := e.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, printed, err)
		}
		if dump(again.root) != dump(e.root) || again.String() != printed {
			t.Fatalf("round trip changed %q: %s -> %s", s, dump(e.root), dump(again.root))
		}
		_, _ = e.Eval(lookup)
		if strings.Contains(printed, "\n") && !strings.Contains(s, "\n") {
			t.Fatalf("String added a newline: %q", printed)
		}
	})
}
