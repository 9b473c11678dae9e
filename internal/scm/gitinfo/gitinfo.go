// Package gitinfo reads the facts a pipeline needs from a local git
// repository: the commit, its branch and tags, its files and what changed.
// It runs the real git command.
package gitinfo

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Repo is a local git repository.
type Repo struct {
	Dir string
	// Head is the checked-out branch, or "" on a detached HEAD.
	Head string
}

// Open finds the repository that contains dir.
func Open(dir string) (*Repo, error) {
	out, err := run(context.Background(), dir, "rev-parse", "--show-toplevel", "--symbolic-full-name", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("%s is not inside a git repository: %w", dir, err)
	}
	top, head, _ := strings.Cut(out, "\n")
	return &Repo{Dir: filepath.Clean(top), Head: strings.TrimPrefix(head, "refs/heads/")}, nil
}

// HeadBranch is the branch HEAD names, "" when it names none; unlike
// Open it works in a bare repository (a mirror) too.
func (r *Repo) HeadBranch() string {
	out, err := r.git("symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return ""
	}
	return out
}

// Refs are a repository's branches and tags with the commits they name.
type Refs struct {
	Branches map[string]string
	Tags     map[string]string
	// OriginHead is the branch origin's HEAD points at, if known.
	OriginHead string
}

// Refs lists branches, tags and origin's HEAD in one git call.
func (r *Repo) Refs() (Refs, error) {
	out, err := r.git("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)%00%(symref)", "refs/heads", "refs/tags", "refs/remotes/origin/HEAD")
	if err != nil {
		return Refs{}, err
	}
	refs := Refs{Branches: map[string]string{}, Tags: map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 4 {
			continue
		}
		switch name := f[0]; {
		case strings.HasPrefix(name, "refs/heads/"):
			refs.Branches[strings.TrimPrefix(name, "refs/heads/")] = f[1]
		case strings.HasPrefix(name, "refs/tags/"):
			sha := f[1]
			if f[2] != "" {
				sha = f[2] // an annotated tag: the commit it points at
			}
			refs.Tags[strings.TrimPrefix(name, "refs/tags/")] = sha
		case name == "refs/remotes/origin/HEAD":
			refs.OriginHead = strings.TrimPrefix(f[3], "refs/remotes/origin/")
		}
	}
	return refs, nil
}

// DefaultBranch is origin's HEAD when there is one, else main or master
// when they exist, else the checked-out branch.
func (refs Refs) DefaultBranch(head string) string {
	if refs.OriginHead != "" {
		return refs.OriginHead
	}
	for _, b := range []string{"main", "master"} {
		if _, ok := refs.Branches[b]; ok {
			return b
		}
	}
	return head
}

// Commit is what the pipeline variables say about a commit.
type Commit struct {
	SHA       string
	Message   string
	Timestamp string // ISO 8601 strict
	Author    string // Name <email>
}

// Resolve returns the full SHA of a revision.
func (r *Repo) Resolve(rev string) (string, error) {
	return r.git("rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
}

// Commit reads one commit.
func (r *Repo) Commit(rev string) (Commit, error) {
	out, err := r.git("show", "-s", "--format=%H%x00%cI%x00%an <%ae>%x00%B", "--end-of-options", rev)
	if err != nil {
		return Commit{}, err
	}
	parts := strings.SplitN(out, "\x00", 4)
	if len(parts) != 4 {
		return Commit{}, fmt.Errorf("git show %s: unexpected output", rev)
	}
	return Commit{SHA: parts[0], Timestamp: parts[1], Author: parts[2], Message: strings.TrimRight(parts[3], "\n")}, nil
}

// Files lists the files of a commit.
func (r *Repo) Files(rev string) ([]string, error) {
	out, err := r.git("ls-tree", "-r", "-z", "--name-only", "--end-of-options", rev)
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// Changed lists the files that differ between two commits.
func (r *Repo) Changed(from, to string) ([]string, error) {
	out, err := r.git("diff", "--name-only", "-z", "--end-of-options", from, to)
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// MergeBase is the best common ancestor of two commits.
func (r *Repo) MergeBase(a, b string) (string, error) {
	return r.git("merge-base", "--end-of-options", a, b)
}

func splitZ(s string) []string {
	var out []string
	for _, f := range strings.Split(s, "\x00") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (r *Repo) git(args ...string) (string, error) {
	return run(context.Background(), r.Dir, args...)
}

func run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// OriginURL is the URL of the origin remote, "" when there is none.
func (r *Repo) OriginURL() string {
	out, err := r.git("remote", "get-url", "origin")
	if err != nil {
		return ""
	}
	return out
}
