package expr

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a malformed expression; Col is the 1-based column (in
// characters) where the problem starts.
type SyntaxError struct {
	Col int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

type tokenKind int

const (
	tokOpen tokenKind = iota
	tokClose
	tokVar
	tokString
	tokPattern
	tokNull
	tokBool
	tokOp
)

type token struct {
	kind tokenKind
	text string // as written
	val  string // variable name, string contents, operator
	pos  int    // byte offset
}

// maxTokens is GitLab's limit: its lexer stops with "Too many tokens!" when
// an expression has 100 tokens or more.
const maxTokens = 99

var (
	// GitLab's lexemes, tried in GitLab's order at each position.
	reVar      = regexp.MustCompile(`^\$(\w+)`)
	reBraced   = regexp.MustCompile(`^\$\{(\w+)\}`)
	reString   = regexp.MustCompile(`^(?:"([^"\n]*)"|'([^'\n]*)')`)
	rePattern  = regexp.MustCompile(`^/(?:[^/]|\\/)+[^\\]/[ismU]*`)
	reBool     = regexp.MustCompile(`^(?:true|false)\b`)
	reWord     = regexp.MustCompile(`^\w`)
	operators  = []string{"==", "=~", "!=", "!~", "&&", "||"}
	spaceChars = " \t\n\v\f\r"
)

// lex splits s into tokens the way GitLab's expression lexer does.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && strings.IndexByte(spaceChars, s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return toks, nil
		}
		if len(toks) == maxTokens {
			return nil, errAt(s, i, fmt.Sprintf("too many tokens (GitLab allows at most %d)", maxTokens))
		}
		t, err := next(s, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		i += len(t.text)
	}
}

func next(s string, i int) (token, error) {
	rest := s[i:]
	switch rest[0] {
	case '(':
		return token{kind: tokOpen, text: "(", pos: i}, nil
	case ')':
		return token{kind: tokClose, text: ")", pos: i}, nil
	}
	if m := reVar.FindStringSubmatch(rest); m != nil {
		return token{kind: tokVar, text: m[0], val: m[1], pos: i}, nil
	}
	if m := reBraced.FindStringSubmatch(rest); m != nil {
		return token{kind: tokVar, text: m[0], val: m[1], pos: i}, nil
	}
	if m := reString.FindStringSubmatch(rest); m != nil {
		return token{kind: tokString, text: m[0], val: m[1] + m[2], pos: i}, nil
	}
	if m := rePattern.FindString(rest); m != "" {
		return token{kind: tokPattern, text: m, pos: i}, nil
	}
	if strings.HasPrefix(rest, "null") {
		return token{kind: tokNull, text: "null", pos: i}, nil
	}
	// GitLab's \b(?:true|false)\b also wants a non-word character before.
	if m := reBool.FindString(rest); m != "" && (i == 0 || !reWord.MatchString(s[i-1:])) {
		return token{kind: tokBool, text: m, val: m, pos: i}, nil
	}
	for _, op := range operators {
		if strings.HasPrefix(rest, op) {
			return token{kind: tokOp, text: op, val: op, pos: i}, nil
		}
	}
	return token{}, errAt(s, i, unknownToken(rest))
}

// unknownToken explains why nothing could be read at the start of rest.
func unknownToken(rest string) string {
	switch {
	case rest[0] == '"' || rest[0] == '\'':
		return fmt.Sprintf("unterminated string: no closing %c on this line", rest[0])
	case rest[0] == '$':
		return "a variable is $NAME or ${NAME}, NAME made of letters, digits and _"
	case rest[0] == '/':
		if len(rest) >= 3 && rest[2] == '/' || len(rest) >= 4 && rest[1] == '\\' && rest[3] == '/' {
			return "single-character regular expressions like /./ are not supported (GitLab rejects them too)"
		}
		return "unterminated regular expression: a pattern is /re/ with optional flags i, m, s, U"
	case rest[0] == '=' || rest[0] == '!' || rest[0] == '&' || rest[0] == '|':
		return "unknown operator: use ==, !=, =~, !~, && or ||"
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return fmt.Sprintf("unexpected %q: expected a variable, a quoted string, null, a /pattern/, an operator or parentheses", r)
}

func errAt(s string, byteOff int, msg string) *SyntaxError {
	return &SyntaxError{Col: utf8.RuneCountInString(s[:byteOff]) + 1, Msg: msg}
}
