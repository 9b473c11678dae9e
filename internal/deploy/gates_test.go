package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/testenv/promtest"
)

// prometheusOf starts a real Prometheus scraping the proxy's series
// (Router.Collector) from a loopback /metrics, and returns its URL.
func prometheusOf(t *testing.T, f *fixture) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.proxy.Collector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return promtest.Start(t, strings.TrimPrefix(srv.URL, "http://"))
}

func ptr(f float64) *float64 { return &f }

// A canary gated by PromQL against a real Prometheus: a good version
// whose success rate the proxy's series show at 100% is promoted; the same
// good version is rolled back when a metric says no (a p99 bound no
// answer can meet), with the metric's value in the reason. The proxy's own
// counts pass both times: only Prometheus decides.
func TestPrometheusGatedCanary(t *testing.T) {
	f := newFixture(t)
	prom := prometheusOf(t, f)
	ctx := context.Background()
	tg := f.target(t, "canary-prom", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	h := f.hammer(t, hostOf(tg), 3)
	gated := func(m deploy.Metric) deploy.Strategy {
		s := canary(50, 100)
		// rate() over a step needs a few scrapes of the canary's series.
		s.Interval = 4 * promtest.ScrapeInterval
		s.Analysis.MinRequests, s.Analysis.MaxFailedChecks = 1, 2
		s.Analysis.Prometheus, s.Analysis.Metrics = prom, []deploy.Metric{m}
		return s
	}

	ro, err := f.runner.Run(ctx, f.target(t, "canary-prom", f.images.v2,
		gated(deploy.Metric{Name: "success", TemplateRef: "request-success-rate", Min: ptr(99)})))
	if err != nil || ro.Outcome != deploy.Succeeded {
		t.Fatalf("canary gated by request-success-rate >= 99: %+v, %v", ro, err)
	}
	for _, c := range ro.Checks {
		if c.Passed && (len(c.Metrics) != 1 || c.Metrics[0].Value < 99) {
			t.Errorf("passed check %+v: want the metric's value, at least 99", c)
		}
	}
	f.serves(t, hostOf(tg), "v2", 5)

	ro, err = f.runner.Run(ctx, f.target(t, "canary-prom", f.images.v1,
		gated(deploy.Metric{Name: "latency", TemplateRef: "request-duration", Max: ptr(0.001)})))
	answers := h.Stop()
	if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(ro.Reason, "metric latency") || !strings.Contains(ro.Reason, "above 0.001") {
		t.Fatalf("canary gated by request-duration <= 0.001ms: %+v, %v; want rolled back by the metric", ro, err)
	}
	f.serves(t, hostOf(tg), "v2", 5)
	counts := tally(answers)
	if counts["200 v1"]+counts["200 v2"] != len(answers) {
		t.Fatalf("answers: %v, want only 200s", counts)
	}
	t.Logf("promoted, then rolled back: %s; answers %v", ro.Reason, counts)
}

// hook is a webhook receiver that records the calls and answers status.
type hook struct {
	status atomic.Int32
	mu     sync.Mutex
	calls  []deploy.WebhookPayload
}

func newHook(t *testing.T, status int) (*hook, string) {
	h := &hook{}
	h.status.Store(int32(status))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p deploy.WebhookPayload
		_ = json.NewDecoder(r.Body).Decode(&p)
		h.mu.Lock()
		h.calls = append(h.calls, p)
		h.mu.Unlock()
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hook) types() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.calls {
		out = append(out, string(c.Type)+"/"+c.Phase)
	}
	return out
}

// A confirm-promotion webhook holds a canary that passed every step at
// its last weight until it answers 2xx; post-rollout hears the outcome; a
// rollout webhook that answers 500 fails the steps and rolls back.
func TestWebhookGates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tg := f.target(t, "canary-hooks", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	h := f.hammer(t, hostOf(tg), 2)
	gate, gateURL := newHook(t, http.StatusForbidden)
	post, postURL := newHook(t, http.StatusOK)
	s := canary(50)
	s.Analysis.MinRequests, s.Analysis.MaxFailedChecks = 1, 20
	s.Webhooks = []deploy.Webhook{
		{Name: "approval", Type: deploy.ConfirmPromotion, URL: gateURL},
		{Name: "tell", Type: deploy.PostRollout, URL: postURL, Metadata: map[string]string{"channel": "releases"}},
	}
	type result struct {
		ro  deploy.Rollout
		err error
	}
	done := make(chan result, 1)
	go func() {
		ro, err := f.runner.Run(ctx, f.target(t, "canary-hooks", f.images.v2, s))
		done <- result{ro, err}
	}()
	// Held: asked twice, still at 50%, not promoted.
	deadline := time.Now().Add(2 * time.Minute)
	for len(gate.types()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("confirm-promotion asked %d times in 2 minutes", len(gate.types()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := f.runner.State(tg.Env()); err != nil || st.CanaryWeight != 50 {
		t.Fatalf("state while held: %+v, %v; want the canary at 50%%", st, err)
	}
	select {
	case r := <-done:
		t.Fatalf("the canary ended while confirm-promotion said 403: %+v, %v", r.ro, r.err)
	default:
	}
	gate.status.Store(http.StatusOK)
	r := <-done
	if r.err != nil || r.ro.Outcome != deploy.Succeeded {
		t.Fatalf("canary after approval: %+v, %v", r.ro, r.err)
	}
	f.serves(t, hostOf(tg), "v2", 5)
	if got := post.types(); len(got) != 1 || got[0] != "post-rollout/Succeeded" || post.calls[0].Metadata["channel"] != "releases" {
		t.Fatalf("post-rollout calls %v %+v, want one, Succeeded, with its metadata", got, post.calls)
	}

	_, failURL := newHook(t, http.StatusInternalServerError)
	s = canary(50, 100)
	s.Analysis.MinRequests = 1
	s.Webhooks = []deploy.Webhook{{Name: "load-test", Type: deploy.RolloutHook, URL: failURL}}
	ro, err := f.runner.Run(ctx, f.target(t, "canary-hooks", f.images.v1, s))
	h.Stop()
	if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(ro.Reason, "webhook load-test: 500") {
		t.Fatalf("canary with a failing rollout webhook: %+v, %v; want rolled back naming it", ro, err)
	}
	f.serves(t, hostOf(tg), "v2", 5)

	// A rollback webhook that answers 200 rolls the canary back at once.
	_, rollbackURL := newHook(t, http.StatusOK)
	s = canary(50, 100)
	s.Analysis.MinRequests = 1
	s.Webhooks = []deploy.Webhook{{Name: "abort", Type: deploy.RollbackHook, URL: rollbackURL}}
	ro, err = f.runner.Run(ctx, f.target(t, "canary-hooks", f.images.v1, s))
	if !errors.Is(err, deploy.ErrRolledBack) || ro.Reason != "a rollback webhook asked for it" || len(ro.Checks) != 1 {
		t.Fatalf("canary with a rollback webhook answering 200: %+v, %v; want rolled back after its first step", ro, err)
	}
	f.serves(t, hostOf(tg), "v2", 5)
}

// waitState waits until the target's state satisfies ok.
func waitState(t *testing.T, f *fixture, env, what string, ok func(deploy.State) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := f.runner.State(env)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 minutes: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A paused canary holds before its step until resumed; a canary whose
// strategy asks for approval waits, after passing every step, until an
// operator approves; an approval with no canary in progress is refused.
func TestManualGatesPauseResumeApprove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tg := f.target(t, "canary-gates", f.images.v1, deploy.Strategy{Kind: deploy.Rolling})
	if _, err := f.runner.Run(ctx, tg); err != nil {
		t.Fatal(err)
	}
	env := tg.Env()
	if err := f.runner.Gate(env, deploy.Approve); err == nil || !strings.Contains(err.Error(), "no canary in progress") {
		t.Fatalf("approve without a canary: %v", err)
	}
	h := f.hammer(t, hostOf(tg), 2)
	if err := f.runner.Gate(env, deploy.Pause); err != nil {
		t.Fatal(err)
	}
	s := canary(50)
	s.Analysis.MinRequests, s.Analysis.MaxFailedChecks = 1, 20
	s.Approval = true
	type result struct {
		ro  deploy.Rollout
		err error
	}
	done := make(chan result, 1)
	go func() {
		ro, err := f.runner.Run(ctx, f.target(t, "canary-gates", f.images.v2, s))
		done <- result{ro, err}
	}()
	waitState(t, f, env, "canary paused before its first step", func(st deploy.State) bool {
		return st.Canary != 0 && st.Waiting == "resume" && st.CanaryWeight == 0
	})
	if err := f.runner.Gate(env, deploy.Resume); err != nil {
		t.Fatal(err)
	}
	waitState(t, f, env, "canary waiting for approval at 50%", func(st deploy.State) bool {
		return st.Waiting == "approval" && st.CanaryWeight == 50
	})
	select {
	case r := <-done:
		t.Fatalf("the canary ended without approval: %+v, %v", r.ro, r.err)
	default:
	}
	if err := f.runner.Gate(env, deploy.Approve); err != nil {
		t.Fatal(err)
	}
	r := <-done
	h.Stop()
	if r.err != nil || r.ro.Outcome != deploy.Succeeded {
		t.Fatalf("canary after approval: %+v, %v", r.ro, r.err)
	}
	if st, _ := f.runner.State(env); st.Waiting != "" || st.Canary != 0 {
		t.Fatalf("state after promotion: %+v", st)
	}
	f.serves(t, hostOf(tg), "v2", 5)
}
