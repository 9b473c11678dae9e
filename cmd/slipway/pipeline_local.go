package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// localRun describes a pipeline of the repository the CLI stands in.
type localRun struct {
	Repo   *gitinfo.Repo
	Info   ci.PipelineInfo
	Ctx    ci.Context
	Config *ci.Config
}

var pipelineSources = []string{"push", "merge_request_event", "schedule", "web", "api", "trigger"}

// newLocalRun resolves ref in the repository at dir, loads file and builds
// the pipeline's predefined variables and rule context.
func newLocalRun(dir, file, ref, source string, vars ci.Variables) (*localRun, error) {
	if !slices.Contains(pipelineSources, source) {
		return nil, fmt.Errorf("--source %q: one of %s", source, strings.Join(pipelineSources, ", "))
	}
	repo, err := gitinfo.Open(dir)
	if err != nil {
		return nil, err
	}
	refs, err := repo.Refs()
	if err != nil {
		return nil, err
	}
	if ref == "" {
		ref = repo.Head
		if ref == "" {
			ref = "HEAD"
		}
	}
	// One git call resolves the ref and reads the commit.
	commit, err := repo.Commit(ref + "^{commit}")
	if err != nil {
		return nil, fmt.Errorf("--ref %s: %w", ref, err)
	}
	sha := commit.SHA
	name := filepath.Base(repo.Dir)
	info := ci.PipelineInfo{
		Source:        source,
		SHA:           sha,
		Message:       commit.Message,
		Timestamp:     commit.Timestamp,
		Author:        commit.Author,
		DefaultBranch: refs.DefaultBranch(repo.Head),
		ProjectDir:    repo.Dir,
		ProjectName:   name,
		ProjectPath:   "local/" + name,
	}
	ctx := ci.Context{Run: vars}
	_, isTag := refs.Tags[ref]
	_, isBranch := refs.Branches[ref]
	switch {
	case isTag:
		info.Tag = ref
	case source == "merge_request_event":
		info.MergeRequest, ctx.Changed, err = localMergeRequest(repo, ref, sha, info.DefaultBranch)
		if err != nil {
			return nil, err
		}
		ctx.ChangesKnown = true
	case isBranch:
		info.Branch = ref
	}
	ctx.CompareTo = func(base string) ([]string, error) { return repo.Changed(base, sha) }
	ctx.Predefined = ci.Predefined(info)

	if file == "" {
		file = ".gitlab-ci.yml"
	}
	// The checked-out commit runs with the working tree's pipeline file, so
	// that an edited .gitlab-ci.yml can be tried before it is committed;
	// another --ref runs with that commit's own.
	root := repo.Dir
	if ref != repo.Head && ref != "HEAD" {
		tmp, err := os.MkdirTemp("", "slipway-ref-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		snap, err := workspace.Extract(context.Background(), repo.Dir, sha, tmp)
		if err != nil {
			return nil, err
		}
		root = snap.Dir
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(root, file)
	}
	cfg, err := ci.Load(file, ci.LoadOptions{ProjectDir: root})
	if err != nil {
		return nil, err
	}
	// Listing the commit's files costs a git call: only rules:exists needs it.
	if cfg.UsesExists() {
		if ctx.Files, err = repo.Files(sha); err != nil {
			return nil, err
		}
	}
	return &localRun{Repo: repo, Info: info, Ctx: ctx, Config: cfg}, nil
}

// localMergeRequest makes the merge request a local branch would open
// against the default branch.
func localMergeRequest(repo *gitinfo.Repo, branch, sha, target string) (*ci.MergeRequestInfo, []string, error) {
	mr := &ci.MergeRequestInfo{IID: 1, SourceBranch: branch, TargetBranch: target, SourceSHA: sha, Title: branch}
	targetSHA, err := repo.Resolve(target)
	if err != nil {
		return nil, nil, fmt.Errorf("merge request target branch %q: %w", target, err)
	}
	mr.TargetSHA = targetSHA
	if mr.DiffBaseSHA, err = repo.MergeBase(targetSHA, sha); err != nil {
		return nil, nil, err
	}
	changed, err := repo.Changed(mr.DiffBaseSHA, sha)
	return mr, changed, err
}
