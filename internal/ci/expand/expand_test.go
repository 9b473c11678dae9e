package expand

import (
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func mapLookup(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestExpand(t *testing.T) {
	vars := mapLookup(map[string]string{
		"A":       "alpha",
		"B_2":     "beta",
		"EMPTY":   "",
		"DOLLAR":  "$A",
		"_under":  "u",
		"lower":   "l",
		"A1":      "a-one",
		"BRACED":  "${A}",
		"SPACED":  "a b",
		"NEWLINE": "x\ny",
	})
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"$A", "alpha"},
		{"${A}", "alpha"},
		{"x$A.y", "xalpha.y"},
		{"${A}1", "alpha1"},
		{"$A1", "a-one"},    // the longest name wins
		{"$A-1", "alpha-1"}, // '-' ends a name
		{"$B_2/$lower/$_under", "beta/l/u"},
		{"$UNDEFINED", ""},
		{"[${UNDEFINED}]", "[]"},
		{"$EMPTY|", "|"},
		{"$$", "$"},
		{"$$A", "$A"},      // escaped: a literal $A
		{"$$$A", "$alpha"}, // escape, then a reference
		{"$$$$", "$$"},
		{"$", "$"}, // a lone $ stays
		{"a $ b", "a $ b"},
		{"cost: 5$", "cost: 5$"},
		{"$1", "$1"}, // names do not start with a digit
		{"${1}", "${1}"},
		{"${}", "${}"},
		{"${A", "${A"}, // unclosed brace stays
		{"${A B}", "${A B}"},
		{"${A-x}", "${A-x}"}, // no shell defaults
		{"$DOLLAR", "$A"},    // values are not expanded again
		{"$BRACED", "${A}"},
		{"$SPACED", "a b"},
		{"$NEWLINE", "x\ny"},
		{"é$A€", "éalpha€"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, vars); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandNilLookup(t *testing.T) {
	if got := Expand("a${B}c$$", nil); got != "ac$" {
		t.Errorf("got %q", got)
	}
}

func TestReferences(t *testing.T) {
	got := References("$A ${B} $$C $A $1 ${D")
	want := []string{"A", "B", "A"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("References = %q, want %q", got, want)
	}
}

func TestIsName(t *testing.T) {
	for s, want := range map[string]bool{"A": true, "_": true, "a_1": true, "": false, "1a": false, "A-B": false, "É": false} {
		if IsName(s) != want {
			t.Errorf("IsName(%q) = %v", s, !want)
		}
	}
}

func TestResolve(t *testing.T) {
	base := mapLookup(map[string]string{"HOME": "/root", "A": "from-base"})
	tests := []struct {
		name string
		defs []Def
		want []KV
	}{
		{
			name: "recursive in any order",
			defs: []Def{{Name: "A", Value: "$B"}, {Name: "B", Value: "${C}x"}, {Name: "C", Value: "1"}},
			want: []KV{{"A", "1x"}, {"B", "1x"}, {"C", "1"}},
		},
		{
			name: "later definition wins, first place kept",
			defs: []Def{{Name: "X", Value: "1"}, {Name: "Y", Value: "$X"}, {Name: "X", Value: "2"}},
			want: []KV{{"X", "2"}, {"Y", "2"}},
		},
		{
			name: "defs shadow base, the rest falls back to base",
			defs: []Def{{Name: "A", Value: "mine"}, {Name: "B", Value: "$A:$HOME:$NOPE"}},
			want: []KV{{"A", "mine"}, {"B", "mine:/root:"}},
		},
		{
			name: "raw values are not expanded but are substituted",
			defs: []Def{{Name: "R", Value: "$HOME and $$", Raw: true}, {Name: "U", Value: "<$R>"}},
			want: []KV{{"R", "$HOME and $$"}, {"U", "<$HOME and $$>"}},
		},
		{
			name: "escape",
			defs: []Def{{Name: "P", Value: "$$HOME"}, {Name: "Q", Value: "$P"}},
			want: []KV{{"P", "$HOME"}, {"Q", "$HOME"}},
		},
		{
			name: "two-cycle left as written",
			defs: []Def{{Name: "A", Value: "$B"}, {Name: "B", Value: "${A}!"}},
			want: []KV{{"A", "$B"}, {"B", "${A}!"}},
		},
		{
			name: "self reference left for the shell",
			defs: []Def{{Name: "PATH", Value: "$PATH:/opt/bin"}},
			want: []KV{{"PATH", "$PATH:/opt/bin"}},
		},
		{
			name: "referring into a cycle takes the cycle's values",
			defs: []Def{{Name: "OUT", Value: "[$B]"}, {Name: "B", Value: "$C"}, {Name: "C", Value: "$B"}},
			want: []KV{{"OUT", "[$C]"}, {"B", "$C"}, {"C", "$B"}},
		},
		{
			name: "diamond",
			defs: []Def{{Name: "D", Value: "$B$C"}, {Name: "B", Value: "$A"}, {Name: "C", Value: "$A"}, {Name: "A", Value: "a"}},
			want: []KV{{"D", "aa"}, {"B", "a"}, {"C", "a"}, {"A", "a"}},
		},
		{
			name: "empty",
			defs: nil,
			want: []KV{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.defs, base)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveLongChain(t *testing.T) {
	// V0=$V1, V1=$V2, ... V9999=end: deep references neither hang nor
	// overflow.
	const n = 10000
	defs := make([]Def, n)
	for i := range defs {
		defs[i] = Def{Name: "V" + strconv.Itoa(i), Value: "$V" + strconv.Itoa(i+1)}
	}
	defs[n-1].Value = "end"
	got, err := Resolve(defs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Value != "end" || len(got) != n {
		t.Fatalf("V0 = %q (len %d)", got[0].Value, len(got))
	}
}

// A few hundred bytes of nested references (each level four times the
// last) would expand to gigabytes: the variable past MaxValue is named.
func TestResolveRefusesExponentialValues(t *testing.T) {
	defs := []Def{{Name: "L0", Value: strings.Repeat("x", 64)}}
	for i := 1; i < 16; i++ {
		prev := "$L" + strconv.Itoa(i-1)
		defs = append(defs, Def{Name: "L" + strconv.Itoa(i), Value: prev + prev + prev + prev})
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Resolve(defs, nil)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	var tl *TooLongError
	if !errors.As(err, &tl) || tl.Name != "L6" {
		t.Fatalf("err %v, want L6 (64*4^6 bytes = 256 KiB) named", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 8*MaxValue {
		t.Errorf("refusing took %d bytes of allocations", grown)
	}
	if v, err := Resolve(defs[:6], nil); err != nil || len(v[5].Value) != 64<<10 {
		t.Errorf("a 64 KiB value must still expand: %v", err)
	}
}
