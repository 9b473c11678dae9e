package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/scm/webhook"
	"github.com/slipway-cd/slipway/internal/store"
)

// WebhooksConfig limits webhook deliveries (docs/webhooks.md).
type WebhooksConfig struct {
	// MaxBodyBytes is the largest body read before the signature check
	// (default 1 MiB); MaxBodyBytesBy overrides it per provider.
	MaxBodyBytes   int64            `yaml:"max_body_bytes"`
	MaxBodyBytesBy map[string]int64 `yaml:"max_body_bytes_by_provider"`
	// Workers turn recorded deliveries into pipelines (default 4).
	Workers int `yaml:"workers"`
}

func (c *WebhooksConfig) defaults() error {
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("webhooks.max_body_bytes %d: want a positive number of bytes", c.MaxBodyBytes)
	}
	for name, n := range c.MaxBodyBytesBy {
		switch webhook.Provider(name) {
		case webhook.GitHub, webhook.GitLab, webhook.Gitea, webhook.Generic:
		default:
			return fmt.Errorf("webhooks.max_body_bytes_by_provider.%s: unknown provider: want github, gitlab, gitea or generic", name)
		}
		if n <= 0 {
			return fmt.Errorf("webhooks.max_body_bytes_by_provider.%s %d: want a positive number of bytes", name, n)
		}
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Workers < 0 {
		return fmt.Errorf("webhooks.workers %d: want at least 1", c.Workers)
	}
	return nil
}

func (c WebhooksConfig) parser() webhook.Parser {
	p := webhook.Parser{MaxBodyBytes: c.MaxBodyBytes, MaxBodyBytesBy: map[webhook.Provider]int64{}}
	for name, n := range c.MaxBodyBytesBy {
		p.MaxBodyBytesBy[webhook.Provider(name)] = n
	}
	return p
}

// deliveryAnswer is the answer to a recorded delivery.
type deliveryAnswer struct {
	// ID is the delivery's id on this server: GET /api/webhook-deliveries/{id}.
	ID         int64  `json:"id"`
	DeliveryID string `json:"delivery_id,omitempty"`
	Status     string `json:"status"`
	Duplicate  bool   `json:"duplicate,omitempty"`
	PipelineID int64  `json:"pipeline_id,omitempty"`
	Message    string `json:"message"`
}

// webhook receives a forge's event for one project: verified with the
// project's secret, it is recorded and answered at once (202); the fetch and
// the planning happen in the background (runDeliveries), so that the forge
// never waits on git. The payload is never logged.
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
	parser := s.cfg.Webhooks.parser()
	var ev webhook.Event
	if p := r.PathValue("provider"); p != "" {
		ev, err = parser.ParseFrom(webhook.Provider(p), r, []byte(secret))
	} else {
		ev, err = parser.Parse(r, []byte(secret))
	}
	if err != nil {
		code := webhook.StatusCode(err)
		if code == http.StatusUnauthorized {
			s.log.Warn("webhook refused", "project", project.Name, "remote", r.RemoteAddr, "err", err)
		}
		answer(code, err.Error())
		return
	}
	_, stops := stopsEnvironments(ev)
	if _, ok := triggerOf(ev); !ok && !stops {
		answer(http.StatusAccepted, "event accepted; it starts no pipeline")
		return
	}
	event, err := json.Marshal(ev)
	if err != nil {
		answer(http.StatusInternalServerError, "recording the delivery failed")
		return
	}
	d, dup, err := s.Store.RecordDelivery(r.Context(), store.Delivery{
		ProjectID: project.ID, Provider: string(ev.Provider), DeliveryID: ev.DeliveryID, Event: string(event)})
	if err != nil {
		s.log.Error("recording webhook delivery", "project", project.Name, "err", err)
		answer(http.StatusInternalServerError, "recording the delivery failed")
		return
	}
	w.Header().Set("Location", "/api/webhook-deliveries/"+strconv.FormatInt(d.ID, 10))
	code, a := http.StatusAccepted, deliveryAnswer{ID: d.ID, DeliveryID: d.DeliveryID, Status: d.Status,
		Message: "delivery recorded; its pipeline is created in the background"}
	if dup {
		code, a.Duplicate, a.PipelineID = http.StatusOK, true, d.PipelineID
		a.Message = fmt.Sprintf("duplicate: delivery %s was received before (as %d); nothing more is done", d.DeliveryID, d.ID)
	} else {
		s.kickDeliveries()
	}
	s.metrics.webhooks.WithLabelValues(strconv.Itoa(code)).Inc()
	writeJSON(w, code, a)
}

// getDelivery shows what came of a delivery: its status and pipeline.
func (s *Server) getDelivery(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.Store.GetDelivery(r.Context(), id)
}

// kickDeliveries wakes a delivery worker without waiting for one.
func (s *Server) kickDeliveries() {
	select {
	case s.deliveries <- struct{}{}:
	default:
	}
}

// startDeliveryWorkers starts the workers that turn recorded deliveries
// into pipelines, after queuing again those an earlier process left
// half done. Any server of a shared database may take any delivery; the
// kick of the server that recorded one, or the next look (every
// schedule_tick), finds it.
func (s *Server) startDeliveryWorkers(ctx context.Context) {
	s.requeueDeliveries(ctx)
	for range s.cfg.Webhooks.Workers {
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			for ctx.Err() == nil {
				if s.runDelivery(ctx) {
					continue
				}
				select {
				case <-s.deliveries:
				case <-ctx.Done():
				case <-time.After(s.cfg.ScheduleTick):
				}
			}
		}()
	}
}

// requeueDeliveries queues again what gone servers (and this server's
// earlier process) were working on.
func (s *Server) requeueDeliveries(ctx context.Context) {
	n, err := s.Store.RequeueDeliveries(ctx, s.Pipes.Server, s.cfg.HeartbeatGrace)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("queuing webhook deliveries again", "err", err)
	case n > 0:
		s.log.Warn("webhook deliveries left by a stopped server are queued again", "count", n)
		s.kickDeliveries()
	}
}

// runDelivery works on the next queued delivery, if there is one.
func (s *Server) runDelivery(ctx context.Context) bool {
	d, err := s.Store.ClaimDelivery(ctx, s.Pipes.Server.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.log.Error("claiming a webhook delivery", "err", err)
		}
		return false
	}
	// A started delivery ends even when the server stops meanwhile.
	s.deliver(context.WithoutCancel(ctx), d)
	s.kickDeliveries() // the project's next one may be claimable now
	return true
}

// deliver does what a delivery asks: stops environments, creates its
// pipeline, and records the outcome.
func (s *Server) deliver(ctx context.Context, d store.Delivery) {
	status, pipelineID, msg := store.DeliveryDone, int64(0), ""
	p, err := s.deliverEvent(ctx, d)
	switch {
	case errors.Is(err, pipelines.ErrNoPipeline):
		msg = "no pipeline: " + err.Error()
	case err != nil:
		status, msg = store.DeliveryFailed, err.Error()
		s.log.Error("webhook pipeline", "delivery", d.ID, "project", d.ProjectID, "err", err)
	default:
		pipelineID = p.ID
	}
	if err := s.Store.FinishDelivery(ctx, d.ID, status, pipelineID, msg); err != nil {
		s.log.Error("recording webhook delivery", "delivery", d.ID, "err", err)
	}
}

func (s *Server) deliverEvent(ctx context.Context, d store.Delivery) (store.Pipeline, error) {
	var ev webhook.Event
	if err := json.Unmarshal([]byte(d.Event), &ev); err != nil {
		return store.Pipeline{}, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	project, err := s.Store.GetProject(ctx, d.ProjectID)
	if err != nil {
		return store.Pipeline{}, err
	}
	if ref, stops := stopsEnvironments(ev); stops && s.Envs != nil {
		s.Envs.StopForRef(ctx, project.ID, ref)
	}
	trigger, ok := triggerOf(ev)
	if !ok {
		return store.Pipeline{}, nil
	}
	return s.Pipes.Create(ctx, project, trigger)
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
