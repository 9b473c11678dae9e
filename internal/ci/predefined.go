package ci

import (
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/slug"
)

// PipelineInfo is what a pipeline is created for; Predefined turns it into
// GitLab's predefined CI_* variables.
type PipelineInfo struct {
	Source        string // push, merge_request_event, schedule, web, api, trigger
	PipelineID    int64
	SHA           string
	BeforeSHA     string
	Branch        string // empty for tag and merge request pipelines
	Tag           string
	Message       string
	Timestamp     string // ISO 8601
	Author        string // "Name <email>"
	DefaultBranch string
	ProjectDir    string
	ProjectName   string
	ProjectPath   string // namespace/name
	ProjectURL    string
	ServerURL     string
	PipelineURL   string
	MergeRequest  *MergeRequestInfo
}

// MergeRequestInfo describes the merge request of a merge request pipeline.
type MergeRequestInfo struct {
	IID          int64
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	SourceSHA    string
	TargetSHA    string
	DiffBaseSHA  string
	Labels       []string
	ProjectPath  string
	ProjectURL   string
	EventType    string // detached, merged_result, merge_train
	Draft        bool
}

// Predefined returns GitLab's predefined variables for a pipeline.
func Predefined(p PipelineInfo) Variables {
	var out Variables
	add := func(name, value string) {
		out = append(out, Variable{Name: name, Value: value, Raw: true})
	}
	add("CI", "true")
	add("GITLAB_CI", "true")
	add("SLIPWAY", "true")
	add("CI_SERVER", "yes")
	add("CI_PIPELINE_SOURCE", p.Source)
	add("CI_PIPELINE_ID", strconv.FormatInt(p.PipelineID, 10))
	add("CI_PIPELINE_IID", strconv.FormatInt(p.PipelineID, 10))
	if p.PipelineURL != "" {
		add("CI_PIPELINE_URL", p.PipelineURL)
	}
	add("CI_COMMIT_SHA", p.SHA)
	add("CI_COMMIT_SHORT_SHA", short(p.SHA))
	before := p.BeforeSHA
	if before == "" {
		before = strings.Repeat("0", 40)
	}
	add("CI_COMMIT_BEFORE_SHA", before)
	ref := p.Branch
	switch {
	case p.Tag != "":
		ref = p.Tag
		add("CI_COMMIT_TAG", p.Tag)
		if msg := p.Message; msg != "" {
			add("CI_COMMIT_TAG_MESSAGE", msg)
		}
	case p.MergeRequest != nil:
		ref = p.MergeRequest.SourceBranch
	case p.Branch != "":
		add("CI_COMMIT_BRANCH", p.Branch)
	}
	add("CI_COMMIT_REF_NAME", ref)
	add("CI_COMMIT_REF_SLUG", slug.Ref(ref))
	add("CI_COMMIT_MESSAGE", p.Message)
	title, desc, _ := strings.Cut(p.Message, "\n")
	add("CI_COMMIT_TITLE", title)
	add("CI_COMMIT_DESCRIPTION", strings.TrimLeft(desc, "\n"))
	add("CI_COMMIT_TIMESTAMP", p.Timestamp)
	add("CI_COMMIT_AUTHOR", p.Author)
	add("CI_DEFAULT_BRANCH", p.DefaultBranch)
	add("CI_PROJECT_DIR", p.ProjectDir)
	add("CI_BUILDS_DIR", p.ProjectDir)
	add("CI_PROJECT_NAME", p.ProjectName)
	add("CI_PROJECT_PATH", p.ProjectPath)
	add("CI_PROJECT_PATH_SLUG", slug.Ref(p.ProjectPath))
	if ns, _, ok := strings.Cut(p.ProjectPath, "/"); ok {
		add("CI_PROJECT_NAMESPACE", ns)
	}
	if p.ProjectURL != "" {
		add("CI_PROJECT_URL", p.ProjectURL)
	}
	if p.ServerURL != "" {
		add("CI_SERVER_URL", p.ServerURL)
	}
	if mr := p.MergeRequest; mr != nil {
		add("CI_MERGE_REQUEST_ID", strconv.FormatInt(mr.IID, 10))
		add("CI_MERGE_REQUEST_IID", strconv.FormatInt(mr.IID, 10))
		add("CI_MERGE_REQUEST_TITLE", mr.Title)
		add("CI_MERGE_REQUEST_DESCRIPTION", mr.Description)
		add("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", mr.SourceBranch)
		add("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", mr.TargetBranch)
		add("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", mr.SourceSHA)
		add("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", mr.TargetSHA)
		add("CI_MERGE_REQUEST_DIFF_BASE_SHA", mr.DiffBaseSHA)
		add("CI_MERGE_REQUEST_LABELS", strings.Join(mr.Labels, ","))
		add("CI_MERGE_REQUEST_PROJECT_PATH", firstNonEmpty(mr.ProjectPath, p.ProjectPath))
		add("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", firstNonEmpty(mr.ProjectPath, p.ProjectPath))
		if mr.ProjectURL != "" {
			add("CI_MERGE_REQUEST_PROJECT_URL", mr.ProjectURL)
		}
		event := mr.EventType
		if event == "" {
			event = "detached"
		}
		add("CI_MERGE_REQUEST_EVENT_TYPE", event)
		if mr.Draft {
			add("CI_MERGE_REQUEST_DRAFT", "true")
		}
	}
	return out
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
