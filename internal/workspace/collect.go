package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Selection says which files of a working copy artifacts or a cache keep.
type Selection struct {
	// Paths are doublestar globs relative to the working copy; a matched
	// folder brings everything under it.
	Paths []string
	// Exclude are globs of files to leave out; a matched folder leaves out
	// everything under it.
	Exclude []string
	// Untracked adds every file the commit does not track (GitLab ignores
	// .gitignore here too).
	Untracked bool
	// Tracked tells the commit's files apart; needed with Untracked.
	Tracked func(rel string) bool
}

// Empty reports whether sel can select nothing.
func (sel Selection) Empty() bool { return len(sel.Paths) == 0 && !sel.Untracked }

// Collect copies the files and links of dir that sel selects into dst,
// keeping their relative paths, and returns those paths, sorted.
func Collect(dir string, sel Selection, dst string) ([]string, error) {
	files, err := sel.Match(dir)
	if err != nil {
		return nil, err
	}
	for _, rel := range files {
		from := filepath.Join(dir, filepath.FromSlash(rel))
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return nil, err
		}
		fi, err := os.Lstat(from)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(from)
			if err != nil {
				return nil, err
			}
			if err := os.Symlink(link, to); err != nil {
				return nil, err
			}
			continue
		}
		if err := copyFile(from, to, fi.Mode().Perm()); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Match returns the relative paths of the files and links of dir that sel
// selects, sorted.
func (sel Selection) Match(dir string) ([]string, error) {
	fsys := os.DirFS(dir)
	set := map[string]bool{}
	add := func(rel string) error {
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			set[rel] = true
			return nil
		}
		return fs.WalkDir(fsys, rel, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				set[p] = true
			}
			return nil
		})
	}
	for _, p := range sel.Paths {
		pat, err := cleanPattern(p)
		if err != nil {
			return nil, err
		}
		matches, err := doublestar.Glob(fsys, pat, doublestar.WithNoFollow())
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		for _, m := range matches {
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	if sel.Untracked {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (sel.Tracked == nil || !sel.Tracked(p)) {
				set[p] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	excludes := make([]string, 0, len(sel.Exclude))
	for _, p := range sel.Exclude {
		pat, err := cleanPattern(p)
		if err != nil {
			return nil, err
		}
		if !doublestar.ValidatePattern(pat) {
			return nil, fmt.Errorf("exclude %q: %w", p, doublestar.ErrBadPattern)
		}
		excludes = append(excludes, pat)
	}
	out := make([]string, 0, len(set))
	for rel := range set {
		if !excluded(rel, excludes) {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out, nil
}

// excluded reports whether rel or one of its folders matches a pattern.
func excluded(rel string, patterns []string) bool {
	for p := rel; p != "." && p != "/"; p = path.Dir(p) {
		for _, pat := range patterns {
			if doublestar.MatchUnvalidated(pat, p) {
				return true
			}
		}
	}
	return false
}

// errOutside is returned for patterns that leave the working copy.
var errOutside = errors.New("is outside the project directory")

// cleanPattern makes a user's path relative and slash-clean ("./dist/" is
// "dist") and refuses those that leave the working copy.
func cleanPattern(p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("path %q %w", p, errOutside)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q %w", p, errOutside)
	}
	return c, nil
}
