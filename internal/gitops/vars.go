package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// unsetVars refuses the ${VAR} and $VAR of a compose.yaml that have no
// default: a GitOps app gets no variables, so each would deploy as an
// empty string. ${VAR:-default} and ${VAR-default} keep working, and $$ is
// a dollar sign. The errors name rel:line:col and the variable.
func unsetVars(rel string, content []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(content, &doc) != nil {
		return nil // compose.Parse says where the YAML is broken
	}
	lines := bytes.Split(content, []byte("\n"))
	var errs []error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, ref := range varRefs(n.Value) {
				line, col := locateText(lines, n.Line, n.Column, ref.text)
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s: variable %s is not set: GitOps gives an app no variables (write ${%s:-value} for a default, $$ for a dollar sign)",
					rel, line, col, ref.text, ref.name, ref.name))
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return errors.Join(errs...)
}

// varRef is a variable a value refers to without a default.
type varRef struct{ text, name string }

// varRefs lists the references of s without a default, as Compose
// interpolation reads them.
func varRefs(s string) []varRef {
	var out []varRef
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			i++
		case next == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				continue
			}
			inner := s[i+2 : i+end]
			name := inner[:nameLen(inner)]
			// After the name: :- or - (a default), :+ or + (an
			// alternative) leave no empty value; :? and ? fail anyway.
			if rest := inner[len(name):]; name != "" && (rest == "" || strings.HasPrefix(rest, "?") || strings.HasPrefix(rest, ":?")) {
				out = append(out, varRef{s[i : i+end+1], name})
			}
			i += end
		case nameLen(s[i+1:]) > 0:
			n := nameLen(s[i+1:])
			out = append(out, varRef{s[i : i+1+n], s[i+1 : i+1+n]})
			i += n
		}
	}
	return out
}

// nameLen is the length of the variable name s starts with.
func nameLen(s string) int {
	for i, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !(i > 0 && '0' <= r && r <= '9') {
			return i
		}
	}
	return len(s)
}

// locateText is the line and column (1-based, in runes) of text's first
// occurrence at or after line:col, where its scalar starts; line:col when
// not found (a value folded by YAML).
func locateText(lines [][]byte, line, col int, text string) (int, int) {
	for l := line; l <= len(lines); l++ {
		src := lines[l-1]
		from := 0
		if l == line {
			from = min(len(src), byteOffset(src, col-1))
		}
		if k := bytes.Index(src[from:], []byte(text)); k >= 0 {
			return l, utf8.RuneCount(src[:from+k]) + 1
		}
	}
	return line, col
}

// byteOffset is the byte offset of the n-th rune of b.
func byteOffset(b []byte, n int) int {
	off := 0
	for ; n > 0 && off < len(b); n-- {
		_, size := utf8.DecodeRune(b[off:])
		off += size
	}
	return off
}
