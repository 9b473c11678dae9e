// Package expand implements GitLab's CI/CD variable expansion: $VAR and
// ${VAR} references, the $$ escape, and the resolution of an ordered list of
// variable definitions that refer to each other.
package expand

import "strings"

// Lookup returns the value of a variable and whether it is defined.
type Lookup func(name string) (string, bool)

// Expand replaces every $VAR and ${VAR} in s by the variable's value (empty
// when lookup does not define it) and every $$ by a single $. A $ that does
// not start a reference (end of string, "$ ", "${1}", an unclosed "${")
// stays as written, as GitLab leaves it.
func Expand(s string, lookup Lookup) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return expand(s, func(name, _ string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(name)
		return v
	})
}

// Escape returns s with every $ doubled, so that Expand gives s back.
func Escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// References returns the names s refers to, in order, with repeats.
func References(s string) []string {
	var names []string
	expand(s, func(name, _ string) string {
		names = append(names, name)
		return ""
	})
	return names
}

// expand walks s and calls value for every reference, with the name and the
// reference as written ("$A" or "${A}").
func expand(s string, value func(name, written string) string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			n := nameLen(s[i+2:])
			if n > 0 && i+2+n < len(s) && s[i+2+n] == '}' {
				end := i + 2 + n + 1
				b.WriteString(value(s[i+2:i+2+n], s[i:end]))
				i = end
				continue
			}
			b.WriteByte('$')
			i++
		default:
			n := nameLen(s[i+1:])
			if n == 0 {
				b.WriteByte('$')
				i++
				continue
			}
			end := i + 1 + n
			b.WriteString(value(s[i+1:end], s[i:end]))
			i = end
		}
	}
	return b.String()
}

// nameLen returns the length of the variable name at the start of s, 0 when
// s does not start with one. Names are [A-Za-z_][A-Za-z0-9_]*.
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		digit := c >= '0' && c <= '9'
		if !letter && !(digit && i > 0) {
			return i
		}
	}
	return len(s)
}

// IsName reports whether s is a valid variable name.
func IsName(s string) bool { return s != "" && nameLen(s) == len(s) }
