package gitops

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
)

// Artifact is one commit of a source: its revision and the mirror that
// holds it.
type Artifact struct {
	Source   string
	Revision string
	// Title and Author describe the commit for notifications.
	Title, Author string
	mirror        string
}

// fetch brings the source's mirror up to date and resolves its branch.
func (c *Controller) fetch(ctx context.Context, s Source) (Artifact, error) {
	tok, err := s.token(c.getenv)
	if err != nil {
		return Artifact{}, err
	}
	dir, err := c.mirrors.Sync(ctx, s.Name, s.URL, tok)
	if err != nil {
		return Artifact{}, fmt.Errorf("source %s: %w", s.Name, err)
	}
	repo := &gitinfo.Repo{Dir: dir}
	rev, err := repo.Resolve("refs/heads/" + s.Branch)
	if err != nil {
		return Artifact{}, fmt.Errorf("source %s (%s): branch %s: %w", s.Name, mirror.Redact(s.URL), s.Branch, err)
	}
	a := Artifact{Source: s.Name, Revision: rev, mirror: dir}
	if commit, err := repo.Commit(rev); err == nil {
		a.Title, _, _ = strings.Cut(commit.Message, "\n")
		a.Author = commit.Author
	}
	return a, nil
}

// export writes the files under path of the artifact's commit into dest
// (once per commit) and returns dest/path. A path missing from the commit
// is an error: pruning everything because of a typo would be a disaster.
func (a Artifact) export(ctx context.Context, dest, path string) (string, error) {
	root := filepath.Join(dest, filepath.FromSlash(path))
	if _, err := os.Stat(filepath.Join(dest, ".complete")); err == nil {
		return a.checkPath(root, path)
	}
	if err := os.RemoveAll(dest); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", err
	}
	treeish := a.Revision
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "--git-dir", a.mirror, "archive", "--format=tar", "--end-of-options", treeish)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("source %s: git archive %.12s: %w: %s", a.Source, a.Revision, err, strings.TrimSpace(stderr.String()))
	}
	if err := untar(bytes.NewReader(out), dest); err != nil {
		return "", fmt.Errorf("source %s: revision %.12s: %w", a.Source, a.Revision, err)
	}
	if err := os.WriteFile(filepath.Join(dest, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	return a.checkPath(root, path)
}

func (a Artifact) checkPath(root, path string) (string, error) {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("source %s: revision %.12s has no folder %q", a.Source, a.Revision, path)
	}
	return root, nil
}

// untar extracts regular files and folders; links are left out, so no
// file of the repository can point outside of dest.
func untar(r io.Reader, dest string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			continue
		}
		p := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
