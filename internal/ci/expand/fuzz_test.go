package expand

import (
	"strings"
	"testing"
)

// FuzzExpand checks properties that hold for every input:
//   - escaping then expanding gives the input back, whatever the lookup
//     (Escape is Expand's inverse: every $ becomes a literal);
//   - a string without $ is returned unchanged (nothing to expand);
//   - with nothing defined, expansion only removes text (references become
//     empty, $$ becomes $), so the result is never longer;
//   - expanding is idempotent once the result has no $ left, and the
//     expansion of the escaped result is that result (a fixed point).
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$A", "${A}", "$$", "$$$A", "${A", "${}", "$1", "a$", "${${A}B}", "é$B€", "$A$B${C}"} {
		f.Add(s, "v$A")
	}
	f.Fuzz(func(t *testing.T, s, value string) {
		all := func(string) (string, bool) { return value, true }
		none := func(string) (string, bool) { return "", false }

		if got := Expand(Escape(s), all); got != s {
			t.Fatalf("Expand(Escape(%q)) = %q", s, got)
		}
		if !strings.Contains(s, "$") {
			if got := Expand(s, all); got != s {
				t.Fatalf("Expand(%q) without $ = %q", s, got)
			}
		}
		empty := Expand(s, none)
		if len(empty) > len(s) {
			t.Fatalf("Expand(%q) with nothing defined grew to %q", s, empty)
		}
		once := Expand(s, all)
		if !strings.Contains(once, "$") {
			if twice := Expand(once, all); twice != once {
				t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
			}
		}
		if got := Expand(Escape(once), all); got != once {
			t.Fatalf("escaped result is not a fixed point: %q", got)
		}
	})
}

// FuzzResolve checks that Resolve ends on any definitions, keeps one entry
// per name in first-definition order, and that when no reference was left
// as written (no $ in any result) every value is exactly the expansion of
// its definition against the final values: the resolution is consistent.
func FuzzResolve(f *testing.F) {
	f.Add("$B", "${C}x", "1", false)
	f.Add("$B", "$A", "$C$X", false)
	f.Add("$A", "$$B", "$X$A", true)
	f.Fuzz(func(t *testing.T, a, b, c string, raw bool) {
		base := func(name string) (string, bool) {
			if name == "X" {
				return "base", true
			}
			return "", false
		}
		defs := []Def{{Name: "A", Value: a}, {Name: "B", Value: b}, {Name: "C", Value: c, Raw: raw}, {Name: "A", Value: a + "$C"}}
		got, err := Resolve(defs, base)
		if err != nil {
			return // a value past MaxValue: refused, nothing to compare
		}
		if len(got) != 3 || got[0].Name != "A" || got[1].Name != "B" || got[2].Name != "C" {
			t.Fatalf("Resolve names = %q", got)
		}
		final := map[string]string{}
		for _, kv := range got {
			if strings.Contains(kv.Value, "$") {
				return
			}
			final[kv.Name] = kv.Value
		}
		lookup := func(name string) (string, bool) {
			if v, ok := final[name]; ok {
				return v, true
			}
			return base(name)
		}
		for _, d := range defs[1:] {
			want := d.Value
			if !d.Raw {
				want = Expand(d.Value, lookup)
			}
			if final[d.Name] != want {
				t.Fatalf("%s = %q, want %q", d.Name, final[d.Name], want)
			}
		}
	})
}
