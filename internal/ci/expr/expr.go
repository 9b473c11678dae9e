// Package expr is GitLab's CI/CD variable expression language, the one of
// `rules: if` and `only/except: variables`: $VAR, "strings", 'strings',
// null, /regular expressions/, ==, !=, =~, !~, &&, || and parentheses, with
// GitLab's precedence, its undefined/empty semantics and its RE2 patterns.
package expr

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// Expr is a parsed expression, ready to be evaluated many times.
type Expr struct{ root node }

type node interface{ prec() int }

type (
	varNode  struct{ name string }
	strNode  struct{ val string }
	nullNode struct{}
	boolNode struct{ val bool }
	// patNode is a /re/flags literal; src is the token as written.
	patNode struct {
		src string
		re  *regexp.Regexp
	}
	binNode struct {
		op   string
		l, r node
	}
)

// Precedence as GitLab (Ruby's): lower binds tighter; operands bind tightest.
func (varNode) prec() int  { return 0 }
func (strNode) prec() int  { return 0 }
func (nullNode) prec() int { return 0 }
func (boolNode) prec() int { return 0 }
func (patNode) prec() int  { return 0 }
func (b binNode) prec() int {
	switch b.op {
	case "&&":
		return 11
	case "||":
		return 12
	}
	return 10
}

func opPrec(op string) int { return binNode{op: op}.prec() }

// Parse reads an expression. Errors are *SyntaxError with the column.
func Parse(s string) (*Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := parser{src: s, toks: toks}
	if len(toks) == 0 {
		return nil, &SyntaxError{Col: 1, Msg: "empty expression"}
	}
	root, err := p.binary(12)
	if err != nil {
		return nil, err
	}
	if p.i < len(toks) {
		t := toks[p.i]
		if t.kind == tokClose {
			return nil, p.errAt(t, "unexpected ): no ( to close")
		}
		return nil, p.errAt(t, fmt.Sprintf("expected an operator (==, !=, =~, !~, &&, ||) before %s", t.text))
	}
	return &Expr{root: root}, nil
}

// MustParse is Parse for expressions known to be valid; it panics otherwise.
func MustParse(s string) *Expr {
	e, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("expr.MustParse(%q): %v", s, err))
	}
	return e
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) errAt(t token, msg string) *SyntaxError { return errAt(p.src, t.pos, msg) }

func (p *parser) errEnd(msg string) *SyntaxError { return errAt(p.src, len(p.src), msg) }

// binary parses operands joined by operators binding no looser than max,
// left to right (all of GitLab's operators are left-associative).
func (p *parser) binary(max int) (node, error) {
	var left node
	var err error
	if max == 10 {
		left, err = p.operand()
	} else {
		left, err = p.binary(max - 1)
	}
	if err != nil {
		return nil, err
	}
	for p.i < len(p.toks) && p.toks[p.i].kind == tokOp && opPrec(p.toks[p.i].val) == max {
		op := p.toks[p.i].val
		p.i++
		var right node
		if max == 10 {
			right, err = p.operand()
		} else {
			right, err = p.binary(max - 1)
		}
		if err != nil {
			return nil, err
		}
		left = binNode{op: op, l: left, r: right}
	}
	return left, nil
}

func (p *parser) operand() (node, error) {
	if p.i == len(p.toks) {
		return nil, p.errEnd("unexpected end: expected a variable, a string, null or a /pattern/")
	}
	t := p.toks[p.i]
	p.i++
	switch t.kind {
	case tokVar:
		return varNode{name: t.val}, nil
	case tokString:
		return strNode{val: t.val}, nil
	case tokNull:
		return nullNode{}, nil
	case tokBool:
		return boolNode{val: t.val == "true"}, nil
	case tokPattern:
		re, err := compilePattern(t.text)
		if err != nil {
			return nil, p.errAt(t, err.Error())
		}
		return patNode{src: t.text, re: re}, nil
	case tokOpen:
		inner, err := p.binary(12)
		if err != nil {
			return nil, err
		}
		if p.i == len(p.toks) {
			return nil, p.errAt(t, "this ( is never closed")
		}
		if c := p.toks[p.i]; c.kind != tokClose {
			return nil, p.errAt(c, fmt.Sprintf("expected ) or an operator before %s", c.text))
		}
		p.i++
		return inner, nil
	case tokClose:
		return nil, p.errAt(t, "unexpected ): expected a variable, a string, null or a /pattern/")
	}
	return nil, p.errAt(t, fmt.Sprintf("unexpected %s: expected a variable, a string, null or a /pattern/", t.text))
}

// rubySyntax is GitLab's Gitlab::UntrustedRegexp::RubySyntax form.
var rubySyntax = regexp.MustCompile(`^/(.*)/([ismU]*)$`)

// compilePattern turns /re/flags into an RE2 regexp as GitLab does: \/
// becomes /, and the flags become an inline (?flags) group.
func compilePattern(text string) (*regexp.Regexp, error) {
	m := rubySyntax.FindStringSubmatch(strings.ReplaceAll(text, `\/`, "/"))
	if m == nil {
		return nil, fmt.Errorf("%s is not a /regular expression/", text)
	}
	re := m[1]
	if m[2] != "" {
		re = "(?" + m[2] + ")" + re
	}
	compiled, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %s: %w", text, err)
	}
	return compiled, nil
}

// Variables returns the names the expression refers to, each once, in order
// of first appearance.
func (e *Expr) Variables() []string {
	var names []string
	seen := map[string]bool{}
	var walk func(node)
	walk = func(n node) {
		switch n := n.(type) {
		case varNode:
			if !seen[n.name] {
				seen[n.name] = true
				names = append(names, n.name)
			}
		case binNode:
			walk(n.l)
			walk(n.r)
		}
	}
	walk(e.root)
	return names
}

// String returns the expression in canonical form: one space around
// operators, $NAME variables, and only the parentheses the structure needs.
// Parsing it gives the same expression.
func (e *Expr) String() string {
	var b strings.Builder
	write(&b, e.root)
	return b.String()
}

func write(b *strings.Builder, n node) {
	switch n := n.(type) {
	case varNode:
		b.WriteString("$" + n.name)
	case strNode:
		if strings.Contains(n.val, `"`) {
			b.WriteString("'" + n.val + "'")
		} else {
			b.WriteString(`"` + n.val + `"`)
		}
	case nullNode:
		b.WriteString("null")
	case boolNode:
		fmt.Fprint(b, n.val)
	case patNode:
		b.WriteString(n.src)
	case binNode:
		// Left-associative: a left child needs parentheses only when it
		// binds looser, a right child also when it binds the same.
		writeChild(b, n.l, n.l.prec() > n.prec())
		b.WriteString(" " + n.op + " ")
		writeChild(b, n.r, n.r.prec() >= n.prec())
	}
}

func writeChild(b *strings.Builder, n node, parens bool) {
	if parens {
		b.WriteByte('(')
	}
	write(b, n)
	if parens {
		b.WriteByte(')')
	}
}

// Eval evaluates the expression with the given variables and says whether
// it holds, as GitLab's Statement#truthful? does.
func (e *Expr) Eval(lookup expand.Lookup) (bool, error) {
	v, err := eval(e.root, lookup)
	if err != nil {
		return false, err
	}
	return v.present(), nil
}

// Matches is Eval for callers that treat an evaluation error as "no match",
// as GitLab does.
func (e *Expr) Matches(lookup expand.Lookup) bool {
	ok, err := e.Eval(lookup)
	return ok && err == nil
}
