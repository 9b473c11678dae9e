package webhook

import (
	"strconv"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/slug"
)

// Pipeline sources, the values of CI_PIPELINE_SOURCE an event gives.
const (
	SourcePush         = "push"
	SourceMergeRequest = "merge_request_event"
)

// Variables returns the GitLab predefined variables this event determines:
// CI_PIPELINE_SOURCE, CI_COMMIT_*, CI_MERGE_REQUEST_* and GITLAB_USER_*.
// Variables the event does not determine are absent, not empty, as in GitLab
// (so `$CI_COMMIT_TAG == null` holds on a branch pipeline). Project-wide
// variables (CI_PROJECT_*, CI_REPOSITORY_URL) are the server's to set.
func (e Event) Variables() map[string]string {
	v := map[string]string{}
	set := func(k, val string) {
		if val != "" {
			v[k] = val
		}
	}
	sha := e.After
	if e.Deleted {
		sha = ""
	}
	ref := e.RefName()
	set("CI_COMMIT_SHA", sha)
	set("CI_COMMIT_SHORT_SHA", shortSHA(sha))
	set("CI_COMMIT_REF_NAME", ref)
	set("CI_COMMIT_REF_SLUG", slug.Ref(ref))
	set("CI_DEFAULT_BRANCH", e.Repo.DefaultBranch)

	msg := e.Commit.Message
	set("CI_COMMIT_MESSAGE", msg)
	title, desc, _ := strings.Cut(msg, "\n")
	set("CI_COMMIT_TITLE", strings.TrimSpace(title))
	set("CI_COMMIT_DESCRIPTION", strings.TrimLeft(desc, "\n"))
	if !e.Commit.Timestamp.IsZero() {
		v["CI_COMMIT_TIMESTAMP"] = e.Commit.Timestamp.Format(time.RFC3339)
	}
	if a := e.Commit.Author; a.Name != "" || a.Email != "" {
		v["CI_COMMIT_AUTHOR"] = strings.TrimSpace(a.Name + " <" + a.Email + ">")
	}
	set("GITLAB_USER_LOGIN", e.User.Username)
	set("GITLAB_USER_NAME", e.User.Name)
	set("GITLAB_USER_EMAIL", e.User.Email)

	switch e.Kind {
	case Push, TagPush:
		v["CI_PIPELINE_SOURCE"] = SourcePush
		set("CI_COMMIT_BRANCH", e.Branch)
		set("CI_COMMIT_TAG", e.Tag)
		// GitLab says 40 zeros for the first push of a branch or tag.
		v["CI_COMMIT_BEFORE_SHA"] = firstNonEmpty(e.Before, ZeroSHA)
	case MergeRequest:
		v["CI_PIPELINE_SOURCE"] = SourceMergeRequest
		// GitLab says 40 zeros in every merge request pipeline.
		v["CI_COMMIT_BEFORE_SHA"] = ZeroSHA
		if mr := e.MergeRequest; mr != nil {
			if mr.ID != 0 {
				v["CI_MERGE_REQUEST_ID"] = strconv.FormatInt(mr.ID, 10)
			}
			v["CI_MERGE_REQUEST_IID"] = strconv.FormatInt(mr.IID, 10)
			set("CI_MERGE_REQUEST_TITLE", mr.Title)
			set("CI_MERGE_REQUEST_DESCRIPTION", mr.Description)
			set("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", mr.SourceBranch)
			set("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", mr.TargetBranch)
			set("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", mr.SourceSHA)
			set("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", mr.TargetSHA)
			set("CI_MERGE_REQUEST_DIFF_BASE_SHA", mr.DiffBaseSHA)
			set("CI_MERGE_REQUEST_LABELS", strings.Join(mr.Labels, ","))
			set("CI_MERGE_REQUEST_PROJECT_PATH", mr.ProjectPath)
			set("CI_MERGE_REQUEST_PROJECT_URL", mr.ProjectURL)
			set("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", mr.SourceProjectPath)
			set("CI_MERGE_REQUEST_REF_PATH", mr.RefPath)
			// Slipway runs the source branch as it is, what GitLab
			// calls a detached merge request pipeline.
			v["CI_MERGE_REQUEST_EVENT_TYPE"] = "detached"
			if mr.Draft {
				v["CI_MERGE_REQUEST_DRAFT"] = "true"
			}
		}
	}
	return v
}

// shortSHA is CI_COMMIT_SHORT_SHA: the first eight characters.
func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
