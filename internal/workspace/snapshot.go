// Package workspace manages the files around a job: the commit's snapshot
// that every job attempt gets a fresh copy of, the artifacts a job leaves
// for later jobs, and the cache shared between pipelines.
package workspace

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Snapshot is a commit's tree extracted once into a folder, so that each
// job attempt gets a working copy by a plain file copy instead of a git
// command.
type Snapshot struct {
	Dir     string
	entries []entry // tar order: parents before children
	tracked map[string]bool
	memLeft int64
}

type entry struct {
	name string // slash-separated, relative
	typ  byte   // tar.TypeDir, tar.TypeReg, tar.TypeSymlink
	mode fs.FileMode
	link string
	// data holds small files, so that a copy writes them without opening
	// the snapshot's file: on some file systems each open costs a lot more
	// than the few bytes.
	data []byte
}

// Small files up to these sizes are kept in memory.
const (
	maxMemFile  = 32 << 10
	maxMemTotal = 4 << 20
)

// Extract writes the tree of commit (any revision git understands) of the
// repository at repo into dir, which must not exist or be empty.
func Extract(ctx context.Context, repo, commit, dir string) (*Snapshot, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("extract %s: %w", commit, err)
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", commit)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", commit, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("extract %s: git archive: %w", commit, err)
	}
	s := &Snapshot{Dir: dir, tracked: map[string]bool{}, memLeft: maxMemTotal}
	readErr := s.untar(stdout)
	if readErr != nil {
		// Let git stop on a closed pipe rather than block.
		_, _ = io.Copy(io.Discard, stdout)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("extract %s from %s: git archive: %w: %s", commit, repo, err, strings.TrimSpace(stderr.String()))
	}
	if readErr != nil {
		return nil, fmt.Errorf("extract %s: %w", commit, readErr)
	}
	return s, nil
}

func (s *Snapshot) untar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		if name == "." || !fs.ValidPath(name) {
			continue
		}
		e := entry{name: name, typ: h.Typeflag, mode: fs.FileMode(h.Mode) & fs.ModePerm, link: h.Linkname}
		dst := filepath.Join(s.Dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			var r io.Reader = tr
			if h.Size <= maxMemFile && h.Size <= s.memLeft {
				data, err := io.ReadAll(tr)
				if err != nil {
					return err
				}
				e.data, r = data, bytes.NewReader(data)
				s.memLeft -= h.Size
			}
			if err := writeFile(dst, r, e.mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		default: // pax headers, submodule entries
			continue
		}
		s.entries = append(s.entries, e)
		if e.typ != tar.TypeDir {
			s.tracked[name] = true
		}
	}
}

// Tracked reports whether rel (slash-separated, relative to the working
// copy) is a file or link of the commit.
func (s *Snapshot) Tracked(rel string) bool { return s.tracked[rel] }

// CopyTo makes dst a fresh working copy of the snapshot.
func (s *Snapshot) CopyTo(dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("working copy: %w", err)
	}
	for _, e := range s.entries {
		from := filepath.Join(s.Dir, filepath.FromSlash(e.name))
		to := filepath.Join(dst, filepath.FromSlash(e.name))
		var err error
		switch e.typ {
		case tar.TypeDir:
			err = os.Mkdir(to, 0o755)
		case tar.TypeReg:
			if e.data != nil {
				err = writeFile(to, bytes.NewReader(e.data), e.mode)
			} else {
				err = copyFile(from, to, e.mode)
			}
		case tar.TypeSymlink:
			err = os.Symlink(e.link, to)
		}
		if err != nil {
			return fmt.Errorf("working copy: %w", err)
		}
	}
	return nil
}

func writeFile(dst string, r io.Reader, mode fs.FileMode) error {
	return writeWith(os.OpenFile, os.Remove, dst, r, mode)
}

// writeFileIn is writeFile confined to root.
func writeFileIn(root *os.Root, name string, r io.Reader, mode fs.FileMode) error {
	return writeWith(root.OpenFile, root.Remove, name, r, mode)
}

func writeWith(open func(string, int, fs.FileMode) (*os.File, error), remove func(string) error, name string, r io.Reader, mode fs.FileMode) error {
	f, err := open(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if errors.Is(err, fs.ErrPermission) {
		// A read-only file from an earlier copy: replace it.
		if rmErr := remove(name); rmErr == nil {
			f, err = open(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		}
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(from, to string, mode fs.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeFile(to, src, mode)
}

// CopyTree copies the files, links and folders under src into dst, replacing
// what exists there. A missing src copies nothing. Nothing is written
// through a link in dst: a job made those links, and they may name the
// host's files. Like tar, a folder or file of src replaces a link in its way.
func CopyTree(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	defer root.Close()
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == src && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		switch {
		case d.IsDir():
			if fi, err := root.Lstat(rel); err == nil && fi.IsDir() {
				return nil
			}
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
			return root.Mkdir(rel, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
			return root.Symlink(link, rel)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if fi, err := root.Lstat(rel); err == nil && !fi.Mode().IsRegular() {
				if err := root.RemoveAll(rel); err != nil {
					return err
				}
			}
			from, err := os.Open(p)
			if err != nil {
				return err
			}
			defer from.Close()
			return writeFileIn(root, rel, from, info.Mode().Perm())
		}
		return nil // sockets, fifos: not worth keeping
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
