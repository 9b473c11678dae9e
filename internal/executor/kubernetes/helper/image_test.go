package helper

import (
	"debug/elf"
	"strings"
	"testing"
)

// TestImageRefusesADynamicBinary: a slipway built with cgo cannot run on the
// helper image's empty filesystem; the command says so instead of writing an
// image whose pods never start.
func TestImageRefusesADynamicBinary(t *testing.T) {
	const dynamic = "/bin/sh" // Debian's dash: dynamically linked
	f, err := elf.Open(dynamic)
	if err != nil {
		t.Skipf("%s: %v", dynamic, err)
	}
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !interp {
		t.Skipf("%s is static here", dynamic)
	}
	_, _, err = Image(dynamic)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("Image(%s): %v, want a refusal naming CGO_ENABLED=0", dynamic, err)
	}
}
