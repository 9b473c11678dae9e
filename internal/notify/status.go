package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// DefaultGitHubURL is GitHub's REST API; GitHub Enterprise Server uses
// https://HOST/api/v3.
const DefaultGitHubURL = "https://api.github.com"

// GitHubStatus sets commit statuses through GitHub's REST API:
// POST {BaseURL}/repos/{owner}/{repo}/statuses/{sha}.
type GitHubStatus struct {
	BaseURL string
	Token   string
	// Context names the status ("slipway"); job statuses get
	// "<Context>/<job name>".
	Context string
	// Repo overrides the event's Project.Repo (owner/name).
	Repo   string
	Client *http.Client
}

// githubStates maps Slipway statuses to GitHub's four states. GitHub has no
// "canceled": a canceled pipeline reports error, a skipped one success.
var githubStates = map[Status]string{
	Pending: "pending", Running: "pending", Manual: "pending",
	Success: "success", Skipped: "success",
	Failed:   "failure",
	Canceled: "error",
}

// Notify sets the status of the event's commit.
func (g GitHubStatus) Notify(ctx context.Context, e Event) error {
	repo := firstNonEmpty(g.Repo, e.Project.Repo)
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%w: github status: repository %q is not owner/name", ErrPermanent, repo)
	}
	if e.SHA == "" {
		return fmt.Errorf("%w: github status: event has no commit SHA", ErrPermanent)
	}
	body, err := json.Marshal(struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}{
		State:       githubStates[e.Status],
		TargetURL:   e.targetURL(),
		Description: clip(statusDescription(e), 140), // GitHub's limit
		Context:     statusContext(firstNonEmpty(g.Context, "slipway"), e),
	})
	if err != nil {
		return fmt.Errorf("%w: github status: %w", ErrPermanent, err)
	}
	h := http.Header{}
	h.Set("Accept", "application/vnd.github+json")
	h.Set("Authorization", "Bearer "+g.Token)
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	u := strings.TrimRight(firstNonEmpty(g.BaseURL, DefaultGitHubURL), "/") +
		"/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + url.PathEscape(e.SHA)
	return request{client: g.Client, url: u, headers: h, body: body, secrets: []string{g.Token}}.post(ctx)
}

// GitLabStatus sets commit statuses through GitLab's REST API:
// POST {BaseURL}/api/v4/projects/{id or URL-encoded path}/statuses/{sha}.
type GitLabStatus struct {
	// BaseURL is the GitLab instance, e.g. https://gitlab.example.com.
	BaseURL string
	Token   string
	// Name names the status ("slipway"); job statuses get "<Name>/<job>".
	Name string
	// Project overrides the event's Project.Repo: a numeric id or a path.
	Project string
	Client  *http.Client
}

// gitlabStates maps Slipway statuses to the states GitLab's API accepts.
var gitlabStates = map[Status]string{
	Pending: "pending", Manual: "pending",
	Running:  "running",
	Success:  "success",
	Failed:   "failed",
	Canceled: "canceled", Skipped: "canceled",
}

// Notify sets the status of the event's commit.
func (g GitLabStatus) Notify(ctx context.Context, e Event) error {
	project := firstNonEmpty(g.Project, e.Project.Repo)
	if project == "" {
		return fmt.Errorf("%w: gitlab status: no project id or path", ErrPermanent)
	}
	if e.SHA == "" {
		return fmt.Errorf("%w: gitlab status: event has no commit SHA", ErrPermanent)
	}
	body, err := json.Marshal(struct {
		State       string `json:"state"`
		Ref         string `json:"ref,omitempty"`
		Name        string `json:"name"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
	}{
		State:       gitlabStates[e.Status],
		Ref:         e.Ref,
		Name:        statusContext(firstNonEmpty(g.Name, "slipway"), e),
		TargetURL:   e.targetURL(),
		Description: clip(statusDescription(e), 255),
	})
	if err != nil {
		return fmt.Errorf("%w: gitlab status: %w", ErrPermanent, err)
	}
	h := http.Header{}
	h.Set("PRIVATE-TOKEN", g.Token)
	// PathEscape turns group/app into group%2Fapp, as GitLab wants.
	u := strings.TrimRight(g.BaseURL, "/") + "/api/v4/projects/" + url.PathEscape(project) +
		"/statuses/" + url.PathEscape(e.SHA)
	return request{client: g.Client, url: u, headers: h, body: body, secrets: []string{g.Token}}.post(ctx)
}

func statusContext(base string, e Event) string {
	if e.Job != nil {
		return base + "/" + e.Job.Name
	}
	return base
}

func statusDescription(e Event) string {
	s := e.title()
	if d := e.duration(); d > 0 && e.Status.finished() {
		s += " in " + d.String()
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
