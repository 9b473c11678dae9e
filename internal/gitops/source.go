package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// artifact is one commit of a source: its revision and the mirror that
// holds it.
type artifact struct {
	Source   string
	Revision string
	// Title and Author describe the commit for notifications.
	Title, Author string
	mirror        string
}

// fetch brings the source's mirror up to date and resolves its branch.
func (c *Controller) fetch(ctx context.Context, s Source) (artifact, error) {
	tok, err := s.token(c.getenv)
	if err != nil {
		return artifact{}, err
	}
	dir, err := c.mirrors.Sync(ctx, s.Name, s.URL, tok)
	if err != nil {
		return artifact{}, fmt.Errorf("source %s: %w", s.Name, err)
	}
	repo := &gitinfo.Repo{Dir: dir}
	rev, err := repo.Resolve("refs/heads/" + s.Branch)
	if err != nil {
		return artifact{}, fmt.Errorf("source %s (%s): branch %s: %w", s.Name, mirror.Redact(s.URL), s.Branch, err)
	}
	a := artifact{Source: s.Name, Revision: rev, mirror: dir}
	if commit, err := repo.Commit(rev); err == nil {
		a.Title, _, _ = strings.Cut(commit.Message, "\n")
		a.Author = commit.Author
	}
	return a, nil
}

// export writes the files of the artifact's commit into dest (once per
// commit) and returns the folder path in it. A path missing from the
// commit is an error: pruning everything because of a typo would be a
// disaster.
func (a artifact) export(ctx context.Context, dest, path string) (string, error) {
	complete := dest + ".complete"
	if _, err := os.Stat(complete); err != nil {
		if err := os.RemoveAll(dest); err != nil {
			return "", err
		}
		if _, err := workspace.Extract(ctx, a.mirror, a.Revision, dest); err != nil {
			return "", fmt.Errorf("source %s: %w", a.Source, err)
		}
		if err := os.WriteFile(complete, nil, 0o644); err != nil {
			return "", err
		}
	}
	root := filepath.Join(dest, filepath.FromSlash(path))
	if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("source %s: revision %.12s has no folder %q", a.Source, a.Revision, path)
	}
	// A link of the repository on the way (hosts -> /srv) would make the
	// host's files the apps: the folder must really be in the checkout.
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", a.Source, err)
	}
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", a.Source, err)
	}
	if rel, err := filepath.Rel(realDest, real); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("source %s: revision %.12s: folder %q leads out of the repository through a symbolic link", a.Source, a.Revision, path)
	}
	return real, nil
}
