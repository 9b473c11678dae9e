package imageupdate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
)

// Edit is a file whose markers change its content.
type Edit struct {
	// File is the path from the tree's root, with "/".
	File     string
	Old, New []byte
	Changes  []Change
}

// Plan reads the regular files under root/sub (symbolic links and .git are
// skipped; a sub that a link leads out of root is refused) and returns the edits their markers ask for, in path order.
// Nothing is written. Errors of every file are reported together.
func Plan(root, sub string, results map[string]imagepolicy.Result) ([]Edit, error) {
	if !filepath.IsLocal(sub) {
		return nil, fmt.Errorf("path %q must be relative and stay inside the repository", sub)
	}
	// The repository's links are its author's: one on the way to sub
	// (clusters -> /etc) would make the update read and rewrite the
	// host's files. Walk the real folder, and only inside the tree.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(root, sub))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", sub, err)
	}
	if rel, err := filepath.Rel(root, dir); err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("path %q leaves the repository through a symbolic link", sub)
	}
	var edits []Edit
	var errs []error
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil // binary
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		out, changes, err := Rewrite(rel, data, results)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if len(changes) > 0 {
			edits = append(edits, Edit{File: rel, Old: data, New: out, Changes: changes})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", sub, err)
	}
	return edits, errors.Join(errs...)
}

// Apply writes the edits under root, keeping each file's mode.
func Apply(root string, edits []Edit) error {
	for _, e := range edits {
		p := filepath.Join(root, filepath.FromSlash(e.File))
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, e.New, st.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// Diff shows the edits as a unified diff without context: one hunk per
// changed line (git apply --unidiff-zero takes it).
func Diff(edits []Edit) string {
	var b strings.Builder
	for _, e := range edits {
		fmt.Fprintf(&b, "--- a/%s\n+++ b/%s\n", e.File, e.File)
		oldLines := bytes.SplitAfter(e.Old, []byte("\n"))
		newLines := bytes.SplitAfter(e.New, []byte("\n"))
		for _, c := range e.Changes {
			fmt.Fprintf(&b, "@@ -%d +%d @@\n-%s+%s", c.Line, c.Line, withNewline(oldLines[c.Line-1]), withNewline(newLines[c.Line-1]))
		}
	}
	return b.String()
}

func withNewline(line []byte) []byte {
	if bytes.HasSuffix(line, []byte("\n")) {
		return line
	}
	return append(line[:len(line):len(line)], "\n\\ No newline at end of file\n"...)
}
