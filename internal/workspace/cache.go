package workspace

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Cache stores one folder per cache key under Dir. A save replaces the
// whole entry, as GitLab replaces the cache archive.
type Cache struct {
	Dir string
}

// entryDir is the folder of key: keys are free text (a branch name, a
// hash), so everything but [A-Za-z0-9_.-] is %-escaped and "." and ".."
// cannot name a parent.
func (c Cache) entryDir(key string) string {
	var b strings.Builder
	b.WriteString("key-")
	for i := 0; i < len(key); i++ {
		ch := key[i]
		if ch == '_' || ch == '-' || ch == '.' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	name := b.String()
	if len(name) > maxEntryName {
		// File names stop at 255 bytes: a long key (a 300-character branch
		// name) keeps a readable start and a hash of the whole key.
		sum := sha256.Sum256([]byte(key))
		name = name[:maxEntryName-65] + "-" + hex.EncodeToString(sum[:])
	}
	return filepath.Join(c.Dir, name)
}

// maxEntryName keeps entry names, and the ".new-" names beside them, under
// the 255 bytes of a file name.
const maxEntryName = 200

// Restore copies the entry of the first of keys that exists into dst and
// returns that key, or "" when none exists.
func (c Cache) Restore(keys []string, dst string) (string, error) {
	for _, key := range keys {
		src := c.entryDir(key)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := CopyTree(src, dst); err != nil {
			return "", fmt.Errorf("restore cache %q: %w", key, err)
		}
		return key, nil
	}
	return "", nil
}

// Save replaces the entry of key with the files of dir that sel selects
// and returns how many it stored. Readers never see half an entry: the new
// one is written aside and renamed into place.
func (c Cache) Save(key, dir string, sel Selection) (int, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return 0, fmt.Errorf("save cache %q: %w", key, err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".new-")
	if err != nil {
		return 0, fmt.Errorf("save cache %q: %w", key, err)
	}
	defer os.RemoveAll(tmp)
	files, err := Collect(dir, sel, tmp)
	if err != nil {
		return 0, fmt.Errorf("save cache %q: %w", key, err)
	}
	final := c.entryDir(key)
	old := filepath.Join(c.Dir, ".old-"+randomHex())
	if err := os.Rename(final, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("save cache %q: %w", key, err)
	}
	defer os.RemoveAll(old)
	if err := os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("save cache %q: %w", key, err)
	}
	return len(files), nil
}

// FilesKey is GitLab's `cache:key:files` key: a hash of the listed files
// (at most two) of dir, after prefix and a dash when prefix is set. GitLab
// hashes the last commits that changed the files; hashing their contents
// gives the same key for the same files without needing git history.
// When none of the files exists the key is "default", as on GitLab.
func FilesKey(dir string, files []string, prefix string) (string, error) {
	h := sha256.New()
	found := false
	for _, f := range files {
		rel, err := cleanPattern(f)
		if err != nil {
			return "", fmt.Errorf("cache:key:files: %w", err)
		}
		fh, err := Open(dir, rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cache:key:files: %w", err)
		}
		found = true
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("cache:key:files: %w", err)
		}
	}
	key := "default"
	if found {
		key = hex.EncodeToString(h.Sum(nil))[:40]
	}
	if prefix != "" {
		key = prefix + "-" + key
	}
	return key, nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
