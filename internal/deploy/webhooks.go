package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// WebhookType says when a canary calls a webhook and what its answer
// does, as in Flagger.
type WebhookType string

// The webhook types. A non-2xx answer (or none) of pre-rollout or rollout
// is a failed check; confirm-rollout and confirm-promotion hold the canary
// (before it starts, before its promotion) until they answer 2xx; a 2xx of
// rollback rolls the canary back at once; post-rollout is told the outcome
// and its answer changes nothing.
const (
	PreRollout       WebhookType = "pre-rollout"
	RolloutHook      WebhookType = "rollout"
	ConfirmRollout   WebhookType = "confirm-rollout"
	ConfirmPromotion WebhookType = "confirm-promotion"
	PostRollout      WebhookType = "post-rollout"
	RollbackHook     WebhookType = "rollback"
)

// WebhookTypes are the known types.
var WebhookTypes = []WebhookType{PreRollout, RolloutHook, ConfirmRollout, ConfirmPromotion, PostRollout, RollbackHook}

// Webhook is an HTTP POST a canary makes at a point of its run.
type Webhook struct {
	Name string
	Type WebhookType
	URL  string
	// Timeout bounds the call (DefaultWebhookTimeout when zero).
	Timeout time.Duration
	// Metadata is sent along, e.g. the command of a load tester.
	Metadata map[string]string
}

// DefaultWebhookTimeout bounds a webhook call without a timeout.
const DefaultWebhookTimeout = 10 * time.Second

// Validate names the bad field of the webhook at its place (at).
func (w Webhook) Validate(at string) error {
	if w.Name == "" {
		return fmt.Errorf("%s.name: missing", at)
	}
	if !slices.Contains(WebhookTypes, w.Type) {
		return fmt.Errorf("%s.type %q: want one of %v", at, w.Type, WebhookTypes)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.url %q: want an http:// or https:// URL", at, w.URL)
	}
	if w.Timeout < 0 {
		return fmt.Errorf("%s.timeout: negative", at)
	}
	return nil
}

// WebhookPayload is the JSON body of a webhook call, Flagger's fields
// (name, namespace, phase, metadata) and the canary's.
type WebhookPayload struct {
	Name       string            `json:"name"`
	Namespace  string            `json:"namespace"` // the environment slug
	Phase      string            `json:"phase"`
	Type       WebhookType       `json:"type"`
	Generation int               `json:"generation"`
	Weight     int               `json:"weight"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// call posts the payload to the webhook; the error says why the answer was
// not a 2xx. The URL is not in the error: it may hold a token.
func (w Webhook) call(ctx context.Context, p WebhookPayload) error {
	p.Type, p.Metadata = w.Type, w.Metadata
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = DefaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %v", w.Name, redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %v", w.Name, redact(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: %s %q", w.Name, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// redact drops the URL from a client error: its query may hold a secret.
func redact(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// hooks calls the webhooks of type typ in order; the first that fails
// ends the calls.
func (x *rollout) hooks(ctx context.Context, typ WebhookType, phase string, gen, weight int) (called bool, err error) {
	for _, w := range x.t.Strategy.Webhooks {
		if w.Type != typ {
			continue
		}
		called = true
		err = w.call(ctx, WebhookPayload{Name: x.t.Name, Namespace: x.spec.Env, Phase: phase, Generation: gen, Weight: weight})
		x.log.Info("rollout: webhook", "env", x.spec.Env, "webhook", w.Name, "type", typ, "err", err)
		if err != nil {
			return called, err
		}
	}
	return called, nil
}

// confirm holds the canary until every webhook of typ answers 2xx,
// asking again after each interval; only the end of ctx ends the wait.
func (x *rollout) confirm(ctx context.Context, typ WebhookType, gen, weight int) error {
	for {
		called, err := x.hooks(ctx, typ, "Waiting", gen, weight)
		if !called || err == nil {
			return nil
		}
		x.log.Info("rollout: waiting for approval", "env", x.spec.Env, "type", typ, "reason", err)
		if err := sleep(ctx, x.t.Strategy.interval()); err != nil {
			return fmt.Errorf("%s: interrupted while waiting: %w", typ, err)
		}
	}
}

// postRollout tells the post-rollout webhooks how the canary ended.
func (x *rollout) postRollout(ctx context.Context, gen int) {
	phase := "Succeeded"
	if x.ro.Outcome == RolledBack {
		phase = "Failed"
	}
	_, _ = x.hooks(context.WithoutCancel(ctx), PostRollout, phase, gen, 0)
}

// analyse adds the step's rollout webhooks and PromQL metrics to c: a
// webhook that fails or a metric out of its range fails the check.
func (x *rollout) analyse(ctx context.Context, a Analysis, c *Check, gen, weight int) {
	if _, err := x.hooks(ctx, RolloutHook, "Progressing", gen, weight); err != nil {
		c.fail(err.Error())
	}
	for _, m := range a.Metrics {
		r := checkMetric(ctx, a.Prometheus, m, x.spec.Env, version(gen), x.t.Strategy.interval())
		c.Metrics = append(c.Metrics, r)
		if !r.Passed {
			c.fail(r.Reason)
		}
	}
}
