package helper

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// File is an extra regular file WriteTar adds to the stream.
type File struct {
	Name string // slash-separated, relative
	Mode fs.FileMode
	Data []byte
}

// WriteTar writes the folders, regular files and symbolic links under dir
// (named relative to it, under prefix when not empty; no dir: none), then
// extra. Other kinds of files (sockets, devices) are left out.
func WriteTar(w io.Writer, dir, prefix string, extra []File) error {
	tw := tar.NewWriter(w)
	if dir != "" {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			name := path.Join(prefix, filepath.ToSlash(rel))
			if name == "." {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			var link string
			switch {
			case info.Mode().IsDir(), info.Mode().IsRegular():
			case info.Mode()&fs.ModeSymlink != 0:
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			default:
				return nil
			}
			h, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			h.Name = name
			h.Uname, h.Gname = "", ""
			if info.IsDir() {
				h.Name += "/"
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			// A file that grew since the stat is cut at the stated size.
			_, err = io.CopyN(tw, f, h.Size)
			return err
		})
		if err != nil {
			return fmt.Errorf("tar %s: %w", dir, err)
		}
	}
	for _, f := range extra {
		h := &tar.Header{Name: f.Name, Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Extract unpacks a tar stream into dir, replacing what is in the way.
// Nothing is written outside dir: names are confined to it and links in
// it are never followed (os.Root), whatever the stream holds.
func Extract(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("untar: %w", err)
		}
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		if name == "." {
			continue
		}
		if !fs.ValidPath(name) {
			return fmt.Errorf("untar: %q: not a relative path", h.Name)
		}
		if err := extractOne(root, tr, h, name); err != nil {
			return fmt.Errorf("untar %s: %w", name, err)
		}
	}
}

func extractOne(root *os.Root, tr *tar.Reader, h *tar.Header, name string) error {
	perm := fs.FileMode(h.Mode).Perm()
	if parent := path.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if info, err := root.Lstat(name); err == nil && !info.IsDir() {
			if err := root.Remove(name); err != nil {
				return err
			}
		}
		// Owner may always write: files still go in.
		if err := root.MkdirAll(name, perm|0o700); err != nil {
			return err
		}
		return root.Chmod(name, perm|0o700)
	case tar.TypeReg:
		if err := removeAny(root, name); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return root.Chmod(name, perm)
	case tar.TypeSymlink:
		if err := removeAny(root, name); err != nil {
			return err
		}
		return root.Symlink(h.Linkname, name)
	}
	return nil // other kinds: left out, as WriteTar does
}

// removeAny removes what is at name, a folder too, so that a file or
// link takes its place.
func removeAny(root *os.Root, name string) error {
	err := root.RemoveAll(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
