package expr

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// value is what GitLab's Ruby evaluator works with: nil, a string, a
// boolean or a regexp. The kinds matter: && and || return one of their
// operands (as Ruby does), and only nil and false are false there.
type value struct {
	kind kind
	s    string
	b    bool
	re   *regexp.Regexp
}

type kind int

const (
	kNil kind = iota
	kString
	kBool
	kRegexp
)

// truthy is Ruby's truthiness: everything but nil and false, even "".
func (v value) truthy() bool { return v.kind != kNil && !(v.kind == kBool && !v.b) }

// present is ActiveSupport's present?, GitLab's final test: nil, false and
// blank strings (empty or only white space) are not present.
func (v value) present() bool {
	switch v.kind {
	case kNil:
		return false
	case kBool:
		return v.b
	case kString:
		return strings.TrimFunc(v.s, unicode.IsSpace) != ""
	}
	return true
}

// text is Ruby's to_s, used for the left side of =~.
func (v value) text() string {
	switch v.kind {
	case kString:
		return v.s
	case kBool:
		return fmt.Sprint(v.b)
	case kRegexp:
		return v.re.String()
	}
	return ""
}

func equal(a, b value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kString:
		return a.s == b.s
	case kBool:
		return a.b == b.b
	case kRegexp:
		return a.re.String() == b.re.String()
	}
	return true
}

func eval(n node, lookup expand.Lookup) (value, error) {
	switch n := n.(type) {
	case varNode:
		if lookup != nil {
			if s, ok := lookup(n.name); ok {
				return value{kind: kString, s: s}, nil
			}
		}
		return value{}, nil
	case strNode:
		return value{kind: kString, s: n.val}, nil
	case nullNode:
		return value{}, nil
	case boolNode:
		return value{kind: kBool, b: n.val}, nil
	case patNode:
		return value{kind: kRegexp, re: n.re}, nil
	case binNode:
		l, err := eval(n.l, lookup)
		if err != nil {
			return value{}, err
		}
		// && and || short-circuit and return an operand, as in Ruby.
		switch n.op {
		case "&&":
			if !l.truthy() {
				return l, nil
			}
			return eval(n.r, lookup)
		case "||":
			if l.truthy() {
				return l, nil
			}
			return eval(n.r, lookup)
		}
		r, err := eval(n.r, lookup)
		if err != nil {
			return value{}, err
		}
		var res bool
		switch n.op {
		case "==":
			res = equal(l, r)
		case "!=":
			res = !equal(l, r)
		case "=~", "!~":
			m, err := matches(l, r)
			if err != nil {
				return value{}, err
			}
			res = m == (n.op == "=~")
		}
		return value{kind: kBool, b: res}, nil
	}
	panic(fmt.Sprintf("expr: unknown node %T", n))
}

// matches is GitLab's =~: an undefined (or false) right side never
// matches; a string right side written /re/flags is used as a pattern (the
// variables inside it are not expanded); any other string is searched for
// the left side as a substring, GitLab's documented quirk ("23" =~ "1234"
// holds).
func matches(l, r value) (bool, error) {
	switch r.kind {
	case kNil:
		return false, nil
	case kBool:
		if !r.b {
			return false, nil
		}
		return false, fmt.Errorf("the right side of =~ or !~ is a comparison, not a pattern")
	case kString:
		if re, err := compilePattern(r.s); err == nil {
			return re.MatchString(l.text()), nil
		}
		return strings.Contains(r.s, l.text()), nil
	}
	return r.re.MatchString(l.text()), nil
}
