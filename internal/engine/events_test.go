package engine

import (
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
