package convert

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// readGroovyLiteral reads a single- or triple-quoted Groovy string
// literal at the start of src as Groovy's lexer does, and returns its value
// and the rest of src after it.
func readGroovyLiteral(t *testing.T, src string) (value, rest string) {
	delim := "'"
	if strings.HasPrefix(src, "'''") {
		delim = "'''"
	}
	src = src[len(delim):]
	var b strings.Builder
	for {
		switch {
		case src == "":
			t.Fatalf("literal not closed")
		case strings.HasPrefix(src, delim):
			return b.String(), src[len(delim):]
		case src[0] == '\n' && delim == "'":
			t.Fatalf("newline in a single-quoted literal")
		case src[0] != '\\':
			b.WriteByte(src[0])
			src = src[1:]
			continue
		}
		if len(src) < 2 {
			t.Fatalf("backslash at the end")
		}
		switch c := src[1]; c {
		case '\\', '\'':
			b.WriteByte(c)
		case 'r':
			b.WriteByte('\r')
		case 'u':
			n, err := strconv.ParseUint(src[2:6], 16, 32)
			if err != nil {
				t.Fatalf("bad \\u escape %q", src[:6])
			}
			b.WriteRune(rune(n))
			src = src[4:]
		default:
			t.Fatalf("quote writes an escape \\%c", c)
		}
		src = src[2:]
	}
}

// FuzzQuote checks that every string comes back from its Groovy literal
// and that the literal ends where quote's output ends (the real groovy
// check is TestQuoteKeepsEveryByte).
func FuzzQuote(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // YAML strings, and Groovy source, are UTF-8
		}
		lit := quote(s)
		got, rest := readGroovyLiteral(t, lit)
		if rest != "" {
			t.Fatalf("%q: literal %s ends before %q", s, lit, rest)
		}
		if got != s {
			t.Fatalf("%q: literal %s reads %q", s, lit, got)
		}
	})
}
