package helper

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTarRoundTripKeepsModesLinksAndExtras(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(src, "bin", "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(src, "README"), []byte("hello\n"), 0o644))
	must(os.Symlink("bin/run.sh", filepath.Join(src, "run")))
	var buf bytes.Buffer
	must(WriteTar(&buf, src, "project", []File{{Name: "scripts/s.sh", Mode: 0o644, Data: []byte("echo hi\n")}}))

	dst := t.TempDir()
	// What is in the way is replaced: a folder where a file goes.
	must(os.MkdirAll(filepath.Join(dst, "project", "README", "old"), 0o755))
	must(Extract(&buf, dst))
	info, err := os.Stat(filepath.Join(dst, "project", "bin", "run.sh"))
	must(err)
	if info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode %v, want 0755", info.Mode())
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "project", "README")); string(got) != "hello\n" {
		t.Errorf("README = %q", got)
	}
	if link, _ := os.Readlink(filepath.Join(dst, "project", "run")); link != "bin/run.sh" {
		t.Errorf("link = %q", link)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "scripts", "s.sh")); string(got) != "echo hi\n" {
		t.Errorf("extra file = %q", got)
	}
}

// TestExtractStaysInItsFolder: a stream from a pod (whose job may be
// hostile) writes nothing outside the folder, through names or links.
func TestExtractStaysInItsFolder(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"dot-dot":  {{Name: "../escaped", Typeflag: tar.TypeReg}},
		"absolute": {{Name: "/tmp/escaped", Typeflag: tar.TypeReg}},
		"through a link": {
			{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "OUTSIDE"},
			{Name: "out/escaped", Typeflag: tar.TypeReg},
		},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			outside := filepath.Join(parent, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "dir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range entries {
				h.Linkname = strings.ReplaceAll(h.Linkname, "OUTSIDE", outside)
				h.Mode = 0o644
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			if err := Extract(&buf, dir); err == nil {
				t.Error("Extract took the stream")
			}
			if left, _ := os.ReadDir(outside); len(left) > 0 {
				t.Errorf("written outside: %s", left[0].Name())
			}
			if _, err := os.Stat(filepath.Join(parent, "escaped")); err == nil {
				t.Error("written beside the folder")
			}
		})
	}
}
