package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/scm/webhook"
	"github.com/slipway-cd/slipway/internal/store"
)

// webhook receives a forge's event for one project: verified with the
// project's secret, it becomes a pipeline (push, tag push, merge request
// opened or updated). The payload is never logged.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, msg string) {
		s.metrics.webhooks.WithLabelValues(strconv.Itoa(code)).Inc()
		writeJSON(w, code, map[string]string{"message": msg})
	}
	project, err := s.project(r)
	if err != nil {
		// Same answer as a bad signature: do not reveal which projects exist.
		answer(http.StatusUnauthorized, "unknown project or bad signature")
		return
	}
	secret, err := s.Store.WebhookSecret(r.Context(), project.ID)
	if err != nil {
		answer(http.StatusInternalServerError, "reading the project's secret failed")
		return
	}
	var ev webhook.Event
	if p := r.PathValue("provider"); p != "" {
		ev, err = webhook.Parser{}.ParseFrom(webhook.Provider(p), r, []byte(secret))
	} else {
		ev, err = webhook.Parse(r, []byte(secret))
	}
	if err != nil {
		code := webhook.StatusCode(err)
		if code == http.StatusUnauthorized {
			s.log.Warn("webhook refused", "project", project.Name, "remote", r.RemoteAddr, "err", err)
		}
		answer(code, err.Error())
		return
	}
	if ref, stops := stopsEnvironments(ev); stops && s.Envs != nil {
		s.Envs.StopForRef(context.WithoutCancel(r.Context()), project.ID, ref)
	}
	trigger, ok := triggerOf(ev)
	if !ok {
		answer(http.StatusAccepted, "event accepted; it starts no pipeline")
		return
	}
	p, err := s.Pipes.Create(r.Context(), project, trigger)
	switch {
	case errors.Is(err, pipelines.ErrNoPipeline):
		answer(http.StatusOK, "no pipeline: "+err.Error())
	case err != nil:
		s.log.Error("webhook pipeline", "project", project.Name, "err", err)
		answer(http.StatusInternalServerError, "creating the pipeline failed")
	default:
		w.Header().Set("Location", "/api/pipelines/"+strconv.FormatInt(p.ID, 10))
		s.metrics.webhooks.WithLabelValues("201").Inc()
		writeJSON(w, http.StatusCreated, p)
	}
}

// stopsEnvironments says whether an event ends the environments a branch
// deployed: its merge request merged or closed, or the branch deleted.
func stopsEnvironments(ev webhook.Event) (string, bool) {
	switch {
	case ev.Kind == webhook.MergeRequest && ev.MergeRequest != nil && (ev.Action == webhook.Merged || ev.Action == webhook.Closed):
		return ev.MergeRequest.SourceBranch, true
	case ev.Kind == webhook.Push && ev.Deleted:
		return ev.Branch, true
	}
	return "", false
}

// triggerOf turns a forge event into a pipeline trigger; closed and merged
// merge requests and deleted branches start none.
func triggerOf(ev webhook.Event) (pipelines.Trigger, bool) {
	switch ev.Kind {
	case webhook.Push:
		if ev.Deleted {
			return pipelines.Trigger{}, false
		}
		return pipelines.Trigger{Source: "push", Ref: ev.Branch, SHA: ev.After, BeforeSHA: ev.Before}, true
	case webhook.TagPush:
		if ev.Deleted {
			return pipelines.Trigger{}, false
		}
		return pipelines.Trigger{Source: "push", Ref: ev.Tag, Tag: true, SHA: ev.After}, true
	case webhook.MergeRequest:
		mr := ev.MergeRequest
		if mr == nil {
			return pipelines.Trigger{}, false
		}
		switch ev.Action {
		case webhook.Opened, webhook.Updated, webhook.Reopened:
		default:
			return pipelines.Trigger{}, false
		}
		return pipelines.Trigger{
			Source: "merge_request_event", Ref: mr.SourceBranch, SHA: mr.SourceSHA,
			MergeRequest: &store.MergeRequest{
				IID: mr.IID, Title: mr.Title, Action: string(ev.Action), SourceBranch: mr.SourceBranch,
				SourceSHA: mr.SourceSHA, TargetBranch: mr.TargetBranch, TargetSHA: mr.TargetSHA,
				DiffBaseSHA: mr.DiffBaseSHA, Labels: mr.Labels, URL: mr.URL,
			},
		}, true
	}
	return pipelines.Trigger{}, false
}
