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
	out, _ := expandMax(s, -1, func(name, written string) (string, bool) { return value(name, written), true })
	return out
}

// expandMax is expand that gives up, returning false, as soon as the result
// passes max bytes (max < 0: no limit) or value gives up.
func expandMax(s string, max int, value func(name, written string) (string, bool)) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if max >= 0 && b.Len() > max {
			return "", false
		}
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		next := s[i+1]
		var name, written string
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
			continue
		case next == '{':
			n := nameLen(s[i+2:])
			if n == 0 || i+2+n >= len(s) || s[i+2+n] != '}' {
				b.WriteByte('$')
				i++
				continue
			}
			name, written = s[i+2:i+2+n], s[i:i+2+n+1]
		default:
			n := nameLen(s[i+1:])
			if n == 0 {
				b.WriteByte('$')
				i++
				continue
			}
			name, written = s[i+1:i+1+n], s[i:i+1+n]
		}
		v, ok := value(name, written)
		if !ok || max >= 0 && b.Len()+len(v) > max {
			return "", false
		}
		b.WriteString(v)
		i += len(written)
	}
	if max >= 0 && b.Len() > max {
		return "", false
	}
	return b.String(), true
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
