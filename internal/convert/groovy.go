package convert

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// quote returns s as a Groovy single-quoted string literal, which Groovy
// never interpolates: $VAR and ${VAR} reach the shell as written. Text with
// newlines becomes a triple-quoted literal so that scripts stay
// readable in the Jenkinsfile.
func quote(s string) string {
	var b strings.Builder
	delim := "'"
	if strings.Contains(s, "\n") {
		delim = "'''"
	}
	b.WriteString(delim)
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'' && (delim == "'" || i == len(s)-1 || s[i+1] == '\''):
			// In a triple-quoted literal a quote needs escaping only where
			// it could start the closing ''' or run into it.
			b.WriteString(`\'`)
		case r == '\n' && delim == "'''":
			b.WriteByte('\n')
		case r == '\t':
			b.WriteRune(r)
		case r == '\r':
			// Groovy reads a CR, even one written \u000d, as a line end.
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			// Control characters written as they are would be changed or
			// refused by Groovy's lexer.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(delim)
	return b.String()
}

// commentText makes s safe in a // comment: Groovy ends a line at a CR as
// at a LF, and what followed would be code; every control character and
// Unicode line or paragraph separator becomes a space.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// value returns a Groovy expression for a variable's value as GitLab
// expands it: literal text single-quoted, every $VAR or ${VAR} read from
// Jenkins' env when the pipeline runs (empty when undefined, as in GitLab)
// and $$ as one $. Values with expand: false are taken as written.
func value(v ci.Variable) string {
	return valueWith(v, func(name string) string { return `"${env.` + name + ` ?: ''}"` })
}

// valueWith is value with ref giving the Groovy for each reference.
func valueWith(v ci.Variable, ref func(name string) string) string {
	if v.Raw || !strings.Contains(v.Value, "$") {
		return quote(v.Value)
	}
	// NUL cannot occur in a YAML scalar GitLab accepts, so it marks the
	// references in the expanded text.
	marked := expand.Expand(v.Value, func(name string) (string, bool) { return "\x00" + name + "\x00", true })
	var parts []string
	for i, p := range strings.Split(marked, "\x00") {
		switch {
		case i%2 == 1:
			parts = append(parts, ref(p))
		case p != "":
			parts = append(parts, quote(p))
		}
	}
	if len(parts) == 0 {
		return "''"
	}
	return strings.Join(parts, " + ")
}
