// Package webhook verifies incoming webhook deliveries from GitHub, GitLab,
// Gitea and Slipway's own generic format, and normalizes them into one Event
// the server turns into a pipeline (or into stopping review environments).
package webhook

import "time"

// Provider names the system that sent a webhook.
type Provider string

// Providers Slipway accepts webhooks from.
const (
	GitHub  Provider = "github"
	GitLab  Provider = "gitlab"
	Gitea   Provider = "gitea"
	Generic Provider = "generic"
)

// Kind is what happened in the repository.
type Kind string

// Kinds of events. A tag push is its own kind because GitLab runs tag
// pipelines with CI_COMMIT_TAG set and no CI_COMMIT_BRANCH.
const (
	Push         Kind = "push"
	TagPush      Kind = "tag_push"
	MergeRequest Kind = "merge_request"
)

// Action is what happened to a merge request (GitHub: pull request).
type Action string

// Merge request actions. Updated means new commits on the source branch
// (GitHub "synchronize", GitLab "update" with oldrev); Edited means a change
// of title, description or labels without new code, which runs nothing.
const (
	Opened   Action = "opened"
	Updated  Action = "updated"
	Edited   Action = "edited"
	Reopened Action = "reopened"
	Closed   Action = "closed"
	Merged   Action = "merged"
)

// ZeroSHA is the SHA providers send as Before of a new ref or After of a
// deleted one.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Event is one normalized webhook delivery. Fields a provider does not send
// are left empty; the server fills what it can from git (for example
// MergeRequest.DiffBaseSHA with git merge-base).
//
// Its JSON form is also the body of a generic webhook (see docs/webhooks.md).
type Event struct {
	Provider Provider `json:"provider,omitempty"`
	Kind     Kind     `json:"kind"`
	// Action is set for merge request events only.
	Action Action `json:"action,omitempty"`
	// DeliveryID is the provider's id of this delivery (X-GitHub-Delivery,
	// X-Gitlab-Event-UUID, X-Gitea-Delivery), useful to drop redeliveries.
	DeliveryID string `json:"delivery_id,omitempty"`

	Repo Repo `json:"repository"`

	// Ref is the full ref: refs/heads/<branch> or refs/tags/<tag>; for a
	// merge request, the source branch's ref.
	Ref string `json:"ref"`
	// Branch is set for pushes to a branch, Tag for tag pushes.
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// Before and After are the ref's commit SHAs before and after the push.
	// After is always a commit (for an annotated tag, the tagged commit).
	Before string `json:"before,omitempty"`
	After  string `json:"after"`
	// Deleted is true when the push deleted the branch or tag.
	Deleted bool `json:"deleted,omitempty"`

	// Commit is the head commit (After) when the provider describes it.
	Commit Commit `json:"commit"`
	// User is who triggered the event (pusher, merge request actor).
	User User `json:"user"`

	// MergeRequest is set for merge request events only.
	MergeRequest *MR `json:"merge_request,omitempty"`
}

// Repo identifies the repository the event happened in (for a merge
// request, the target repository).
type Repo struct {
	// FullName is the path on the forge: owner/name or group/sub/name.
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url,omitempty"`
	WebURL        string `json:"web_url,omitempty"`
	DefaultBranch string `json:"default_branch,omitempty"`
}

// Commit describes one commit.
type Commit struct {
	SHA       string    `json:"sha,omitempty"`
	Message   string    `json:"message,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
	URL       string    `json:"url,omitempty"`
	Author    User      `json:"author,omitzero"`
}

// User is a person as a provider names them.
type User struct {
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
}

// MR is a merge request (GitHub and Gitea: pull request).
type MR struct {
	// ID is the provider-wide id, IID the number within the project (#12).
	ID           int64    `json:"id,omitempty"`
	IID          int64    `json:"iid"`
	Title        string   `json:"title,omitempty"`
	Description  string   `json:"description,omitempty"`
	SourceBranch string   `json:"source_branch"`
	TargetBranch string   `json:"target_branch"`
	SourceSHA    string   `json:"source_sha"`
	TargetSHA    string   `json:"target_sha,omitempty"`
	DiffBaseSHA  string   `json:"diff_base_sha,omitempty"`
	URL          string   `json:"url,omitempty"`
	Labels       []string `json:"labels,omitempty"`
	Draft        bool     `json:"draft,omitempty"`
	// ProjectPath is the target project; SourceProjectPath differs from it
	// when the merge request comes from a fork.
	ProjectPath       string `json:"project_path,omitempty"`
	ProjectURL        string `json:"project_url,omitempty"`
	SourceProjectPath string `json:"source_project_path,omitempty"`
	SourceCloneURL    string `json:"source_clone_url,omitempty"`
	// RefPath is the ref in the target repository that holds the source
	// commits, fetchable even from forks: refs/pull/N/head on GitHub and
	// Gitea, refs/merge-requests/N/head on GitLab.
	RefPath string `json:"ref_path,omitempty"`
}

// RefName is the branch or tag name the event is about: CI_COMMIT_REF_NAME.
func (e Event) RefName() string {
	switch {
	case e.Tag != "":
		return e.Tag
	case e.Branch != "":
		return e.Branch
	case e.MergeRequest != nil:
		return e.MergeRequest.SourceBranch
	}
	return e.Ref
}

// RunsPipeline tells whether the event should create a pipeline: pushes that
// do not delete their ref, and merge requests opened, updated with new
// commits or reopened. Deletions, closes and merges only stop environments.
func (e Event) RunsPipeline() bool {
	switch e.Kind {
	case Push, TagPush:
		return !e.Deleted
	case MergeRequest:
		return e.Action == Opened || e.Action == Updated || e.Action == Reopened
	}
	return false
}
