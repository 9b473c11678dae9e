package webhook

import (
	"fmt"
	"strconv"
	"time"
)

// GitHub's payloads, trimmed to the fields Slipway reads.
type ghUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username"`
	Login    string `json:"login"`
}

type ghRepo struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
}

type ghCommit struct {
	ID        string    `json:"id"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
	URL       string    `json:"url"`
	Author    ghUser    `json:"author"`
}

type ghPush struct {
	Ref        string    `json:"ref"`
	Before     string    `json:"before"`
	After      string    `json:"after"`
	Deleted    bool      `json:"deleted"`
	HeadCommit *ghCommit `json:"head_commit"`
	Repository ghRepo    `json:"repository"`
	Pusher     ghUser    `json:"pusher"`
	Sender     ghUser    `json:"sender"`
}

type ghBranch struct {
	Ref  string `json:"ref"`
	SHA  string `json:"sha"`
	Repo ghRepo `json:"repo"`
}

type ghPullRequest struct {
	Action      string `json:"action"`
	Number      int64  `json:"number"`
	Before      string `json:"before"`
	After       string `json:"after"`
	PullRequest struct {
		ID      int64    `json:"id"`
		Number  int64    `json:"number"`
		HTMLURL string   `json:"html_url"`
		Title   string   `json:"title"`
		Body    string   `json:"body"`
		Draft   bool     `json:"draft"`
		Merged  bool     `json:"merged"`
		User    ghUser   `json:"user"`
		Head    ghBranch `json:"head"`
		Base    ghBranch `json:"base"`
		Labels  []struct {
			Name string `json:"name"`
		} `json:"labels"`
	} `json:"pull_request"`
	Repository ghRepo `json:"repository"`
	Sender     ghUser `json:"sender"`
}

func decodeGitHub(event string, body []byte) (Event, error) {
	switch event {
	case "push":
		var p ghPush
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		if err := missing("ref", p.Ref, "after", p.After, "repository.full_name", p.Repository.FullName); err != nil {
			return Event{}, err
		}
		e, err := pushEvent(p.Ref, p.Before, p.After, p.Deleted)
		if err != nil {
			return Event{}, err
		}
		e.Repo = p.Repository.normalize()
		e.User = User{Name: p.Pusher.Name, Username: firstNonEmpty(p.Sender.Login, p.Pusher.Name), Email: p.Pusher.Email}
		if c := p.HeadCommit; c != nil {
			// For an annotated tag, after is the tag object; head_commit
			// is the commit it points to.
			if c.ID != "" {
				e.After = c.ID
			}
			e.Commit = Commit{SHA: c.ID, Message: c.Message, Timestamp: c.Timestamp, URL: c.URL,
				Author: User{Name: c.Author.Name, Username: c.Author.Username, Email: c.Author.Email}}
		}
		return e, nil
	case "pull_request":
		var p ghPullRequest
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		action, err := githubAction(p.Action, p.PullRequest.Merged)
		if err != nil {
			return Event{}, err
		}
		pr := p.PullRequest
		if err := missing("pull_request.head.ref", pr.Head.Ref, "pull_request.head.sha", pr.Head.SHA,
			"pull_request.base.ref", pr.Base.Ref, "repository.full_name", p.Repository.FullName); err != nil {
			return Event{}, err
		}
		number := firstNonZero(pr.Number, p.Number)
		mr := &MR{
			ID: pr.ID, IID: number, Title: pr.Title, Description: pr.Body,
			SourceBranch: pr.Head.Ref, TargetBranch: pr.Base.Ref,
			SourceSHA: pr.Head.SHA, TargetSHA: pr.Base.SHA,
			URL: pr.HTMLURL, Draft: pr.Draft,
			ProjectPath: p.Repository.FullName, ProjectURL: p.Repository.HTMLURL,
			SourceProjectPath: pr.Head.Repo.FullName, SourceCloneURL: pr.Head.Repo.CloneURL,
			RefPath: "refs/pull/" + strconv.FormatInt(number, 10) + "/head",
		}
		for _, l := range pr.Labels {
			mr.Labels = append(mr.Labels, l.Name)
		}
		return Event{
			Kind: MergeRequest, Action: action,
			Repo: p.Repository.normalize(),
			Ref:  "refs/heads/" + pr.Head.Ref,
			// GitHub sends before/after on synchronize only.
			Before: p.Before, After: pr.Head.SHA,
			Commit:       Commit{SHA: pr.Head.SHA},
			User:         User{Username: p.Sender.Login},
			MergeRequest: mr,
		}, nil
	case "ping":
		return Event{}, fmt.Errorf("%w: ping", ErrIgnored)
	case "":
		return Event{}, fmt.Errorf("%w: empty %s", ErrBadPayload, headerGitHubEvent)
	}
	return Event{}, fmt.Errorf("%w: event %q", ErrIgnored, event)
}

func githubAction(action string, merged bool) (Action, error) {
	return pullRequestAction(action, "synchronize", merged)
}

// pullRequestAction maps a GitHub-style pull request action; sync is the
// forge's word for new commits.
func pullRequestAction(action, sync string, merged bool) (Action, error) {
	switch action {
	case "opened":
		return Opened, nil
	case sync:
		return Updated, nil
	case "reopened":
		return Reopened, nil
	case "edited":
		return Edited, nil
	case "closed":
		if merged {
			return Merged, nil
		}
		return Closed, nil
	case "":
		return "", fmt.Errorf("%w: missing action", ErrBadPayload)
	}
	return "", fmt.Errorf("%w: pull_request action %q", ErrIgnored, action)
}

func (r ghRepo) normalize() Repo {
	return Repo{FullName: r.FullName, CloneURL: r.CloneURL, WebURL: r.HTMLURL, DefaultBranch: r.DefaultBranch}
}

// pushEvent fills the ref fields common to every provider's push.
func pushEvent(ref, before, after string, deleted bool) (Event, error) {
	branch, tag := refParts(ref)
	e := Event{Ref: ref, Branch: branch, Tag: tag, Before: before, After: after,
		Deleted: deleted || after == ZeroSHA}
	switch {
	case branch != "":
		e.Kind = Push
	case tag != "":
		e.Kind = TagPush
	default:
		return Event{}, fmt.Errorf("%w: ref is neither a branch nor a tag", ErrIgnored)
	}
	return e, nil
}

func firstNonZero(v ...int64) int64 {
	for _, n := range v {
		if n != 0 {
			return n
		}
	}
	return 0
}
