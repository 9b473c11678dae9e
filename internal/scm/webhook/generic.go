package webhook

import (
	"fmt"
)

// decodeGeneric reads Slipway's own format: the JSON form of Event, strict
// about unknown fields so a typo fails loudly instead of being dropped.
func decodeGeneric(body []byte) (Event, error) {
	var e Event
	if err := decodeJSON(body, &e, true); err != nil {
		return Event{}, err
	}
	e.Provider = ""
	if err := missing("kind", string(e.Kind), "repository.full_name", e.Repo.FullName); err != nil {
		return Event{}, err
	}
	switch e.Kind {
	case Push, TagPush:
		if e.Ref == "" {
			switch {
			case e.Kind == TagPush && e.Tag != "":
				e.Ref = "refs/tags/" + e.Tag
			case e.Kind == Push && e.Branch != "":
				e.Ref = "refs/heads/" + e.Branch
			}
		}
		if err := missing("ref", e.Ref, "after", e.After); err != nil {
			return Event{}, err
		}
		p, err := pushEvent(e.Ref, e.Before, e.After, e.Deleted)
		if err != nil {
			return Event{}, fmt.Errorf("%w: ref must start with refs/heads/ or refs/tags/", ErrBadPayload)
		}
		if p.Kind != e.Kind {
			return Event{}, fmt.Errorf("%w: kind %s does not match the kind of ref", ErrBadPayload, e.Kind)
		}
		e.Branch, e.Tag, e.Deleted = p.Branch, p.Tag, p.Deleted
		e.Action, e.MergeRequest = "", nil
	case MergeRequest:
		mr := e.MergeRequest
		if mr == nil {
			return Event{}, fmt.Errorf("%w: missing merge_request", ErrBadPayload)
		}
		if err := missing("action", string(e.Action), "merge_request.source_branch", mr.SourceBranch,
			"merge_request.target_branch", mr.TargetBranch, "merge_request.source_sha", mr.SourceSHA); err != nil {
			return Event{}, err
		}
		switch e.Action {
		case Opened, Updated, Edited, Reopened, Closed, Merged:
		default:
			return Event{}, fmt.Errorf("%w: action is not opened, updated, edited, reopened, closed or merged", ErrBadPayload)
		}
		if mr.IID <= 0 {
			return Event{}, fmt.Errorf("%w: merge_request.iid must be a positive number", ErrBadPayload)
		}
		if mr.ProjectPath == "" {
			mr.ProjectPath = e.Repo.FullName
		}
		e.Ref, e.After, e.Branch, e.Tag = "refs/heads/"+mr.SourceBranch, mr.SourceSHA, "", ""
		if e.Commit.SHA == "" {
			e.Commit.SHA = mr.SourceSHA
		}
	default:
		return Event{}, fmt.Errorf("%w: kind is not push, tag_push or merge_request", ErrBadPayload)
	}
	return e, nil
}
