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
// keeping their relative paths, and returns those paths, sorted. Nothing is
// read through a symbolic link that leads out of dir: a job's container
// made the links, and on the host they would name the host's files.
func Collect(dir string, sel Selection, dst string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	files, err := sel.match(root)
	if err != nil {
		return nil, err
	}
	for _, rel := range files {
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return nil, err
		}
		fi, err := root.Lstat(rel)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, err := root.Readlink(rel)
			if err != nil {
				return nil, err
			}
			if err := os.Symlink(link, to); err != nil {
				return nil, err
			}
			continue
		}
		src, err := root.Open(rel)
		if err != nil {
			return nil, err
		}
		err = writeFile(to, src, fi.Mode().Perm())
		src.Close()
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Match returns the relative paths of the files and links of dir that sel
// selects, sorted. A path through a link that leads out of dir selects
// nothing.
func (sel Selection) Match(dir string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return sel.match(root)
}

func (sel Selection) match(root *os.Root) ([]string, error) {
	fsys := root.FS()
	set := map[string]bool{}
	add := func(rel string) error {
		fi, err := root.Lstat(rel)
		if isOutside(err) {
			return nil
		}
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
		if !strings.ContainsAny(pat, `*?[{\`) {
			// A plain path: Glob would stat it, following a final link.
			if err := add(pat); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
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

// Open opens the file rel (slash-separated) of the working copy dir for
// reading; a link on the way that leads out of dir is an error.
func Open(dir, rel string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if isOutside(err) {
		return nil, fmt.Errorf("%s leads out of the working copy through a symbolic link", rel)
	}
	return f, err
}

// isOutside reports whether err is an os.Root's refusal of a path that
// leads out of its folder through a link (the os package does not export
// that error).
func isOutside(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent"
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
