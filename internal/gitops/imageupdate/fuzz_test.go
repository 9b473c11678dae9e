package imageupdate_test

import (
	"bytes"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
)

// FuzzRewrite checks, for any file, that Rewrite touches only lines with a
// marker, keeps their number, reports each line it changes, and that a
// second rewrite changes nothing.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte("image: reg/app:1.0 # {\"$imagepolicy\": \"app\"}\n"))
	f.Add([]byte("a:\r\n  tag: '1' # {\"$imagepolicy\": \"app:tag\"}\r\nX=y # {\"$imagepolicy\":\"pinned\"}"))
	f.Add([]byte("d: \"\" # {\"$imagepolicy\": \"app:digest\"}\nn: x # {\"$imagepolicy\": \"app:name\"}\n"))
	f.Add([]byte("# {\"$imagepolicy\": \"app\"}\nimage: 'a b' # {\"$imagepolicy\": \"nope\"}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changes, err := imageupdate.Rewrite("f", in, selected)
		if err != nil {
			return
		}
		inLines, outLines := bytes.SplitAfter(in, []byte("\n")), bytes.SplitAfter(out, []byte("\n"))
		if len(inLines) != len(outLines) {
			t.Fatalf("%d lines became %d", len(inLines), len(outLines))
		}
		changed := map[int]bool{}
		for _, c := range changes {
			changed[c.Line] = true
		}
		for i := range inLines {
			if !bytes.Equal(inLines[i], outLines[i]) && !changed[i+1] {
				t.Fatalf("line %d changed without a change reported: %q -> %q", i+1, inLines[i], outLines[i])
			}
		}
		again, changes, err := imageupdate.Rewrite("f", out, selected)
		if err != nil || len(changes) != 0 || !bytes.Equal(again, out) {
			t.Fatalf("second rewrite of %q: %+v, %v", out, changes, err)
		}
	})
}
