package build

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextSpec is a build context folder and the Dockerfile to build it with.
type contextSpec struct {
	dir        string // absolute
	dockerfile string // absolute
	// inContext is the Dockerfile's slash path inside the tar the engine
	// gets: its place in dir, or a generated name when it lives elsewhere
	// (a Dockerfile generated in another folder, as the docker CLI does).
	inContext string
	// outside is set when the Dockerfile must be added to the tar.
	outside bool
}

func newContextSpec(dir, dockerfile string) (contextSpec, error) {
	var s contextSpec
	var err error
	if s.dir, err = filepath.Abs(dir); err != nil {
		return s, err
	}
	if fi, err := os.Stat(s.dir); err != nil {
		return s, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return s, fmt.Errorf("build context %s is not a folder", dir)
	}
	if dockerfile == "" {
		dockerfile = filepath.Join(s.dir, "Dockerfile")
	}
	if s.dockerfile, err = filepath.Abs(dockerfile); err != nil {
		return s, err
	}
	if _, err := os.Stat(s.dockerfile); err != nil {
		return s, fmt.Errorf("dockerfile: %w", err)
	}
	rel, err := filepath.Rel(s.dir, s.dockerfile)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		s.inContext = filepath.ToSlash(rel)
		return s, nil
	}
	sum := sha256.Sum256([]byte(s.dockerfile))
	s.inContext = ".slipway-dockerfile-" + hex.EncodeToString(sum[:6])
	s.outside = true
	return s, nil
}

// ignorePatterns reads the context's .dockerignore, if any. As with the
// docker CLI, the Dockerfile and .dockerignore are always sent (the engine
// needs the first; the second is harmless), whatever the file says.
func (s contextSpec) ignorePatterns() ([]string, error) {
	path := filepath.Join(s.dir, ".dockerignore")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(patterns) > 0 && !s.outside {
		patterns = append(patterns, "!"+s.inContext, "!.dockerignore")
	}
	return patterns, nil
}

// writeTar writes the build context as a tar stream: the files of dir not
// excluded by .dockerignore, owned by root (as the docker CLI sends them,
// so COPY gives root-owned files whoever runs the build), plus the
// Dockerfile when it lives outside dir.
func (s contextSpec) writeTar(w io.Writer) error {
	patterns, err := s.ignorePatterns()
	if err != nil {
		return err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(s.dir, ".dockerignore"), err)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if len(patterns) > 0 {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(s.dir, ".dockerignore"), err)
			}
			if skip {
				// A folder whose content no "!" pattern can bring back is
				// not walked at all (node_modules, .git).
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		return addFile(tw, path, rel)
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", s.dir, err)
	}
	if s.outside {
		if err := addFile(tw, s.dockerfile, s.inContext); err != nil {
			return fmt.Errorf("dockerfile: %w", err)
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.Format = tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
