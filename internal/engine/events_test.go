package engine

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestLineWriterSplitsLines(t *testing.T) {
	var lines []string
	w := &lineWriter{emit: func(l string, _ bool) { lines = append(lines, l) }}
	for _, chunk := range []string{"one\r\ntw", "o\n\nthr", "ee"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if want := []string{"one", "two", "", "three"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}

	lines = nil
	_, _ = w.Write([]byte(strings.Repeat("x", maxLine+5) + "\n"))
	if len(lines) != 2 || len(lines[0]) != maxLine || lines[1] != "xxxxx" {
		t.Errorf("a long line gave %d lines", len(lines))
	}
}

func TestLineWriterStopsAtTheLimit(t *testing.T) {
	collect := func(limit int64, chunks ...string) []string {
		var lines []string
		w := &lineWriter{limit: limit, emit: func(l string, _ bool) { lines = append(lines, l) }}
		for _, c := range chunks {
			if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
				t.Fatalf("Write(%q) = %d, %v: the job must not see its output refused", c, n, err)
			}
		}
		w.Flush()
		return lines
	}
	// Exactly the limit is kept whole, with no notice.
	if got, want := collect(8, "123\n", "567\n"), []string{"123", "567"}; !reflect.DeepEqual(got, want) {
		t.Errorf("at the limit: %q, want %q", got, want)
	}
	// One byte more: what fits, the notice once, nothing after.
	got := collect(8, "1234\n", "5678\n", "more\n", "and more")
	if want := []string{"1234", "567", LimitNotice(8)}; !reflect.DeepEqual(got, want) {
		t.Errorf("past the limit: %q, want %q", got, want)
	}
	// A cut never splits a character.
	if got, want := collect(4, "ab€cd"), []string{"ab", LimitNotice(4)}; !reflect.DeepEqual(got, want) {
		t.Errorf("cut in a character: %q, want %q", got, want)
	}
}

// BenchmarkLineWriterLongLine writes one 8 MiB line without a newline,
// in one Write and in the 32 KiB reads of a pipe.
func BenchmarkLineWriterLongLine(b *testing.B) {
	data := []byte(strings.Repeat("x", 8<<20))
	for _, chunk := range []int{len(data), 32 << 10} {
		b.Run(fmt.Sprintf("write=%d", chunk), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				w := &lineWriter{emit: func(string, bool) {}}
				for p := data; len(p) > 0; p = p[min(chunk, len(p)):] {
					w.Write(p[:min(chunk, len(p))])
				}
				w.Flush()
			}
		})
	}
}
