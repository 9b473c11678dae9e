package gitops

import (
	"reflect"
	"testing"
)

func TestVarRefsSkipDefaultsAndDollars(t *testing.T) {
	for s, want := range map[string][]varRef{
		"${A}":                  {{"${A}", "A"}},
		"x $B_1 y":              {{"$B_1", "B_1"}},
		"${C:-d} ${D-e} ${E+f}": nil,
		"$$F ${G:?need it}":     {{"${G:?need it}", "G"}},
		"price $5, ${":          nil,
	} {
		if got := varRefs(s); !reflect.DeepEqual(got, want) {
			t.Errorf("varRefs(%q) = %v, want %v", s, got, want)
		}
	}
}
