package webhook

import (
	"fmt"
	"strconv"
	"time"
)

// GitLab's payloads, trimmed to the fields Slipway reads.
type glProject struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	WebURL            string `json:"web_url"`
	GitHTTPURL        string `json:"git_http_url"`
	DefaultBranch     string `json:"default_branch"`
}

type glCommit struct {
	ID        string    `json:"id"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
	URL       string    `json:"url"`
	Author    struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"author"`
}

type glPush struct {
	ObjectKind   string     `json:"object_kind"`
	Ref          string     `json:"ref"`
	Before       string     `json:"before"`
	After        string     `json:"after"`
	CheckoutSHA  string     `json:"checkout_sha"`
	UserName     string     `json:"user_name"`
	UserUsername string     `json:"user_username"`
	UserEmail    string     `json:"user_email"`
	Project      glProject  `json:"project"`
	Commits      []glCommit `json:"commits"`
}

type glLabel struct {
	Title string `json:"title"`
}

type glMergeRequest struct {
	ObjectKind string `json:"object_kind"`
	User       struct {
		Name     string `json:"name"`
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"user"`
	Project glProject `json:"project"`
	Attrs   struct {
		ID           int64     `json:"id"`
		IID          int64     `json:"iid"`
		Title        string    `json:"title"`
		Description  string    `json:"description"`
		SourceBranch string    `json:"source_branch"`
		TargetBranch string    `json:"target_branch"`
		URL          string    `json:"url"`
		Action       string    `json:"action"`
		OldRev       string    `json:"oldrev"`
		Draft        bool      `json:"draft"`
		Source       glProject `json:"source"`
		Target       glProject `json:"target"`
		LastCommit   glCommit  `json:"last_commit"`
		Labels       []glLabel `json:"labels"`
	} `json:"object_attributes"`
	Labels []glLabel `json:"labels"`
}

func decodeGitLab(event string, body []byte) (Event, error) {
	switch event {
	case "Push Hook", "Tag Push Hook":
		var p glPush
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		if err := missing("ref", p.Ref, "after", p.After, "project.path_with_namespace", p.Project.PathWithNamespace); err != nil {
			return Event{}, err
		}
		e, err := pushEvent(p.Ref, p.Before, p.After, false)
		if err != nil {
			return Event{}, err
		}
		if (event == "Tag Push Hook") != (e.Kind == TagPush) {
			return Event{}, fmt.Errorf("%w: %s for ref kind %s", ErrBadPayload, event, e.Kind)
		}
		// checkout_sha is the commit; after is the tag object for an
		// annotated tag.
		if p.CheckoutSHA != "" {
			e.After = p.CheckoutSHA
		}
		e.Repo = p.Project.normalize()
		e.User = User{Name: p.UserName, Username: p.UserUsername, Email: p.UserEmail}
		for _, c := range p.Commits {
			if c.ID == e.After {
				e.Commit = c.normalize()
			}
		}
		return e, nil
	case "Merge Request Hook":
		var p glMergeRequest
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		a := p.Attrs
		action, err := gitlabAction(a.Action, a.OldRev)
		if err != nil {
			return Event{}, err
		}
		if err := missing("object_attributes.source_branch", a.SourceBranch, "object_attributes.target_branch", a.TargetBranch,
			"object_attributes.last_commit.id", a.LastCommit.ID, "project.path_with_namespace", p.Project.PathWithNamespace); err != nil {
			return Event{}, err
		}
		target := a.Target
		if target.PathWithNamespace == "" {
			target = p.Project
		}
		mr := &MR{
			ID: a.ID, IID: a.IID, Title: a.Title, Description: a.Description,
			SourceBranch: a.SourceBranch, TargetBranch: a.TargetBranch,
			SourceSHA: a.LastCommit.ID, URL: a.URL, Draft: a.Draft,
			ProjectPath: target.PathWithNamespace, ProjectURL: target.WebURL,
			SourceProjectPath: a.Source.PathWithNamespace, SourceCloneURL: a.Source.GitHTTPURL,
			RefPath: "refs/merge-requests/" + strconv.FormatInt(a.IID, 10) + "/head",
		}
		labels := a.Labels
		if len(labels) == 0 {
			labels = p.Labels
		}
		for _, l := range labels {
			mr.Labels = append(mr.Labels, l.Title)
		}
		return Event{
			Kind: MergeRequest, Action: action,
			Repo:   p.Project.normalize(),
			Ref:    "refs/heads/" + a.SourceBranch,
			Before: a.OldRev, After: a.LastCommit.ID,
			Commit:       a.LastCommit.normalize(),
			User:         User{Name: p.User.Name, Username: p.User.Username, Email: p.User.Email},
			MergeRequest: mr,
		}, nil
	case "":
		return Event{}, fmt.Errorf("%w: empty %s", ErrBadPayload, headerGitLabEvent)
	}
	return Event{}, fmt.Errorf("%w: event %q", ErrIgnored, event)
}

// gitlabAction maps object_attributes.action. GitLab sends "update" for
// edits and approvals as well; only oldrev tells that new commits arrived.
func gitlabAction(action, oldrev string) (Action, error) {
	switch action {
	case "open":
		return Opened, nil
	case "update":
		if oldrev != "" {
			return Updated, nil
		}
		return Edited, nil
	case "reopen":
		return Reopened, nil
	case "close":
		return Closed, nil
	case "merge":
		return Merged, nil
	case "":
		return "", fmt.Errorf("%w: missing object_attributes.action", ErrBadPayload)
	}
	return "", fmt.Errorf("%w: merge request action %q", ErrIgnored, action)
}

func (p glProject) normalize() Repo {
	return Repo{FullName: p.PathWithNamespace, CloneURL: p.GitHTTPURL, WebURL: p.WebURL, DefaultBranch: p.DefaultBranch}
}

func (c glCommit) normalize() Commit {
	return Commit{SHA: c.ID, Message: c.Message, Timestamp: c.Timestamp, URL: c.URL,
		Author: User{Name: c.Author.Name, Email: c.Author.Email}}
}
