package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/slug"
)

// How a component's ref was chosen.
const (
	RefPullRequest = "pull-request" // the component's pull-request branch
	RefMaintenance = "maintenance"  // <major>.<minor>.x from its version
	RefDefault     = "default"      // the repository's default branch
)

// Plan is a manifest with every component's repository, ref and commit
// resolved, group by group.
type Plan struct {
	Manifest *Manifest
	Groups   [][]*Target
	mirrors  *mirror.Mirrors
}

// Target is one component of a plan: what runs, from where.
type Target struct {
	Component
	Group int // 1-based
	// Repo is the repository URL with any credentials hidden.
	Repo string
	// Mirror is the local mirror of the repository the pipeline runs from.
	Mirror  string
	Ref     string
	RefKind string
	Commit  string
	// TagCommit is the commit a tag named after the component's version
	// already points at, "" when there is no such tag.
	TagCommit string

	repoURL       string
	mirrorName    string
	defaultBranch string
}

// Source says where the components' repositories are.
type Source struct {
	// Repos is a local folder holding one repository per component (named
	// after it, with or without .git), or a URL base the component's name
	// is appended to. Empty uses the manifest's scmHttpUrl.
	Repos string
	// Mirrors keeps the local mirrors the pipelines read commits from.
	Mirrors *mirror.Mirrors
}

// RepoURL is the repository of component name.
func (s Source) RepoURL(m *Manifest, name string) (string, error) {
	base := s.Repos
	if base == "" {
		base = m.SCMHTTPURL
	}
	if base == "" {
		return "", errors.New("no repository location: set scmHttpUrl in the manifest or give --repos")
	}
	if info, err := os.Stat(base); err == nil && info.IsDir() {
		dir, err := filepath.Abs(filepath.Join(base, name))
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(dir); err != nil {
			if _, bareErr := os.Stat(dir + ".git"); bareErr == nil {
				return dir + ".git", nil
			}
		}
		return dir, nil
	}
	return strings.TrimSuffix(base, "/") + "/" + name, nil
}

// Resolve fetches every component's repository into a mirror and picks its
// ref and commit. Every component that cannot be resolved is reported.
func Resolve(ctx context.Context, m *Manifest, src Source) (*Plan, error) {
	plan := &Plan{Manifest: m, mirrors: src.Mirrors}
	var errs []error
	for gi, names := range m.Groups {
		var group []*Target
		for _, name := range names {
			t, err := resolve(ctx, m, src, *m.Component(name))
			if err != nil {
				errs = append(errs, fmt.Errorf("component %s: %w", name, err))
				continue
			}
			t.Group = gi + 1
			group = append(group, t)
		}
		plan.Groups = append(plan.Groups, group)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return plan, nil
}

func resolve(ctx context.Context, m *Manifest, src Source, c Component) (*Target, error) {
	url, err := src.RepoURL(m, c.Name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(url))
	t := &Target{Component: c, Repo: mirror.Redact(url), repoURL: url, mirrorName: slug.Label(c.Name) + "-" + hex.EncodeToString(sum[:4])}
	if t.Mirror, err = src.Mirrors.Sync(ctx, t.mirrorName, url, ""); err != nil {
		return nil, err
	}
	repo := &gitinfo.Repo{Dir: t.Mirror}
	refs, err := repo.Refs()
	if err != nil {
		return nil, err
	}
	head := repo.HeadBranch()
	if t.Ref, t.RefKind, err = pickRef(c, refs, head); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Repo, err)
	}
	t.Commit = refs.Branches[t.Ref]
	t.defaultBranch = refs.DefaultBranch(head)
	t.TagCommit = refs.Tags[c.Version]
	return t, nil
}

// MaintenanceBranch is the branch a version is maintained on:
// <major>.<minor>.x (4.1.32-SNAPSHOT is on 4.1.x).
func MaintenanceBranch(version string) string {
	v, err := semver.NewVersion(version)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d.%d.x", v.Major(), v.Minor())
}

// pickRef chooses what to build: the pull-request branch when there is
// one (it must exist), else the maintenance branch of the version when it
// exists, else the default branch.
func pickRef(c Component, refs gitinfo.Refs, head string) (ref, kind string, err error) {
	if c.PullRequest != "" {
		if _, ok := refs.Branches[c.PullRequest]; !ok {
			return "", "", fmt.Errorf("pull-request branch %q not found", c.PullRequest)
		}
		return c.PullRequest, RefPullRequest, nil
	}
	if b := MaintenanceBranch(c.Version); b != "" {
		if _, ok := refs.Branches[b]; ok {
			return b, RefMaintenance, nil
		}
	}
	def := refs.DefaultBranch(head)
	if _, ok := refs.Branches[def]; !ok {
		return "", "", fmt.Errorf("no branch %s and no default branch", MaintenanceBranch(c.Version))
	}
	return def, RefDefault, nil
}
