package webhook

import (
	"fmt"
	"strconv"
	"time"
)

// Gitea's payloads (also Forgejo's), trimmed to the fields Slipway reads.
type gtUser struct {
	Login    string `json:"login"`
	FullName string `json:"full_name"`
	Email    string `json:"email"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

type gtRepo struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
}

type gtCommit struct {
	ID        string    `json:"id"`
	Message   string    `json:"message"`
	URL       string    `json:"url"`
	Timestamp time.Time `json:"timestamp"`
	Author    gtUser    `json:"author"`
}

type gtPush struct {
	Ref        string    `json:"ref"`
	Before     string    `json:"before"`
	After      string    `json:"after"`
	HeadCommit *gtCommit `json:"head_commit"`
	Repository gtRepo    `json:"repository"`
	Pusher     gtUser    `json:"pusher"`
}

type gtBranch struct {
	Ref  string `json:"ref"`
	SHA  string `json:"sha"`
	Repo gtRepo `json:"repo"`
}

type gtPullRequest struct {
	Action      string `json:"action"`
	Number      int64  `json:"number"`
	PullRequest struct {
		ID        int64    `json:"id"`
		Number    int64    `json:"number"`
		Title     string   `json:"title"`
		Body      string   `json:"body"`
		HTMLURL   string   `json:"html_url"`
		Merged    bool     `json:"merged"`
		Draft     bool     `json:"draft"`
		MergeBase string   `json:"merge_base"`
		Head      gtBranch `json:"head"`
		Base      gtBranch `json:"base"`
		Labels    []struct {
			Name string `json:"name"`
		} `json:"labels"`
	} `json:"pull_request"`
	Repository gtRepo `json:"repository"`
	Sender     gtUser `json:"sender"`
}

func decodeGitea(event string, body []byte) (Event, error) {
	switch event {
	case "push":
		var p gtPush
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		if err := missing("ref", p.Ref, "after", p.After, "repository.full_name", p.Repository.FullName); err != nil {
			return Event{}, err
		}
		e, err := pushEvent(p.Ref, p.Before, p.After, false)
		if err != nil {
			return Event{}, err
		}
		e.Repo = p.Repository.normalize()
		e.User = User{Name: p.Pusher.FullName, Username: firstNonEmpty(p.Pusher.Login, p.Pusher.Username), Email: p.Pusher.Email}
		if c := p.HeadCommit; c != nil && c.ID != "" {
			e.After = c.ID
			e.Commit = Commit{SHA: c.ID, Message: c.Message, Timestamp: c.Timestamp, URL: c.URL,
				Author: User{Name: c.Author.Name, Username: c.Author.Username, Email: c.Author.Email}}
		}
		return e, nil
	case "pull_request":
		var p gtPullRequest
		if err := decodeJSON(body, &p, false); err != nil {
			return Event{}, err
		}
		action, err := giteaAction(p.Action, p.PullRequest.Merged)
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
			SourceSHA: pr.Head.SHA, TargetSHA: pr.Base.SHA, DiffBaseSHA: pr.MergeBase,
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
			Repo:   p.Repository.normalize(),
			Ref:    "refs/heads/" + pr.Head.Ref,
			After:  pr.Head.SHA,
			Commit: Commit{SHA: pr.Head.SHA},
			User:   User{Name: p.Sender.FullName, Username: firstNonEmpty(p.Sender.Login, p.Sender.Username), Email: p.Sender.Email},

			MergeRequest: mr,
		}, nil
	case "":
		return Event{}, fmt.Errorf("%w: empty %s", ErrBadPayload, headerGiteaEvent)
	}
	return Event{}, fmt.Errorf("%w: event %q", ErrIgnored, event)
}

// giteaAction maps a pull request action; Gitea says "synchronized".
func giteaAction(action string, merged bool) (Action, error) {
	return pullRequestAction(action, "synchronized", merged)
}

func (r gtRepo) normalize() Repo {
	return Repo{FullName: r.FullName, CloneURL: r.CloneURL, WebURL: r.HTMLURL, DefaultBranch: r.DefaultBranch}
}
