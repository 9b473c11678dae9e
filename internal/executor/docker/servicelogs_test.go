package docker

import (
	"strings"
	"testing"
)

func TestPrefixWriterPrefixesWholeLines(t *testing.T) {
	var b strings.Builder
	w := &prefixWriter{w: &b, prefix: []byte("[service:db] ")}
	for _, chunk := range []string{"ready", " to accept\nconn", "ections\n\nlast without newline"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	w.flush()
	want := "[service:db] ready to accept\n[service:db] connections\n[service:db] \n[service:db] last without newline\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
