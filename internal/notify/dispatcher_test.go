package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects a dispatcher's logs for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testOptions(logs *logBuffer) Options {
	return Options{
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func closeWithin(t *testing.T, d *Dispatcher, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestRetriesAfterServerErrors(t *testing.T) {
	rc := newReceiver(t, func(n int, _ received, _ http.Header) (int, string) {
		if n < 2 {
			return http.StatusInternalServerError, "boom"
		}
		return http.StatusOK, "ok"
	})
	logs := &logBuffer{}
	d := NewDispatcher([]Target{{Name: "hook", Notifier: Webhook{URL: rc.URL, Secret: []byte("s3cr3t-value")}}}, testOptions(logs))
	d.Notify(pipelineEvent(Failed))
	closeWithin(t, d, 10*time.Second)

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two 500s, then 200)", len(got))
	}
	// Every attempt is the same delivery, so a receiver can deduplicate.
	id := got[0].Header.Get(HeaderDelivery)
	for _, r := range got {
		if r.Header.Get(HeaderDelivery) != id || !bytes.Equal(r.Body, got[0].Body) {
			t.Errorf("attempts differ: %q vs %q", r.Header.Get(HeaderDelivery), id)
		}
	}
	if s := d.Stats(); s.Delivered != 1 || s.Retried != 2 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "retrying") || strings.Contains(logs.String(), "s3cr3t-value") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t, func(int, received, http.Header) (int, string) { return http.StatusBadGateway, "" })
	opts := testOptions(&logBuffer{})
	opts.MaxAttempts = 4
	d := NewDispatcher([]Target{{Name: "slack", Notifier: Slack{URL: rc.URL}}}, opts)
	d.Notify(pipelineEvent(Failed))
	closeWithin(t, d, 10*time.Second)
	if n := len(rc.requests()); n != 4 {
		t.Errorf("receiver got %d requests, want 4", n)
	}
	if s := d.Stats(); s.Failed != 1 || s.Delivered != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		rc := newReceiver(t, func(int, received, http.Header) (int, string) { return status, `{"message":"no"}` })
		logs := &logBuffer{}
		d := NewDispatcher([]Target{{Name: "gh", Notifier: GitHubStatus{BaseURL: rc.URL, Token: "ghp_TOKENVALUE"}}}, testOptions(logs))
		d.Notify(pipelineEvent(Success))
		closeWithin(t, d, 10*time.Second)
		if n := len(rc.requests()); n != 1 {
			t.Errorf("%d: receiver got %d requests, want 1", status, n)
		}
		if s := d.Stats(); s.Failed != 1 || s.Retried != 0 {
			t.Errorf("%d: stats %+v", status, s)
		}
		if !strings.Contains(logs.String(), "delivery failed") || strings.Contains(logs.String(), "TOKENVALUE") {
			t.Errorf("%d: logs:\n%s", status, logs)
		}
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	var first time.Time
	var gap time.Duration
	rc := newReceiver(t, func(n int, _ received, h http.Header) (int, string) {
		if n == 0 {
			first = time.Now()
			h.Set("Retry-After", "1")
			return http.StatusTooManyRequests, "rate_limited"
		}
		gap = time.Since(first)
		return http.StatusOK, "ok"
	})
	d := NewDispatcher([]Target{{Name: "slack", Notifier: Slack{URL: rc.URL}}}, testOptions(&logBuffer{}))
	d.Notify(pipelineEvent(Failed))
	closeWithin(t, d, 10*time.Second)
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}
	// The backoff alone would be a few milliseconds.
	if gap < time.Second {
		t.Errorf("retried after %v, before the 1s Retry-After", gap)
	}
}

func TestRetryAfterTooLongGivesUp(t *testing.T) {
	rc := newReceiver(t, func(_ int, _ received, h http.Header) (int, string) {
		h.Set("Retry-After", "86400")
		return http.StatusTooManyRequests, ""
	})
	d := NewDispatcher([]Target{{Name: "slack", Notifier: Slack{URL: rc.URL}}}, testOptions(&logBuffer{}))
	d.Notify(pipelineEvent(Failed))
	closeWithin(t, d, 5*time.Second)
	if n, s := len(rc.requests()), d.Stats(); n != 1 || s.Failed != 1 {
		t.Errorf("requests %d stats %+v, want one attempt then give up", n, s)
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(int, received, http.Header) (int, string) {
		<-release
		return http.StatusOK, "ok"
	})
	fast := newReceiver(t, nil)
	logs := &logBuffer{}
	opts := testOptions(logs)
	opts.QueueSize = 4
	d := NewDispatcher([]Target{
		{Name: "stuck", Notifier: Slack{URL: rc.URL}},
		{Name: "fast", Notifier: Webhook{URL: fast.URL, Secret: []byte("k")}, Events: []string{"pipeline.failed"}},
	}, opts)

	done := make(chan struct{})
	go func() {
		for range 100 {
			d.Notify(pipelineEvent(Running))
		}
		d.Notify(pipelineEvent(Failed))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("Notify blocked on a receiver that does not answer")
	}
	// The stuck receiver holds one event and its queue four more: the rest
	// were dropped, with a warning.
	if s := d.Stats(); s.Dropped < 101-5 {
		t.Errorf("dropped %d, want at least %d", s.Dropped, 101-5)
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("no warning about the full queue in:\n%s", logs)
	}
	// The other target got its event while the first is still stuck.
	deadline := time.Now().Add(5 * time.Second)
	for len(fast.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := fast.requests(); len(got) != 1 || !strings.Contains(string(got[0].Body), `"event":"pipeline.failed"`) {
		t.Errorf("fast target got %d requests, want the one pipeline.failed", len(got))
	}
	close(release)
	closeWithin(t, d, 10*time.Second)
}

func TestCloseDrainsInOrder(t *testing.T) {
	rc := newReceiver(t, func(int, received, http.Header) (int, string) {
		time.Sleep(2 * time.Millisecond)
		return http.StatusOK, "ok"
	})
	d := NewDispatcher([]Target{{Name: "hook", Notifier: Webhook{URL: rc.URL, Secret: []byte("k")}}}, testOptions(&logBuffer{}))
	statuses := []Status{Pending, Running, Success}
	for id := int64(1); id <= 5; id++ {
		for _, s := range statuses {
			e := pipelineEvent(s)
			e.Pipeline.ID = id
			d.Notify(e)
		}
	}
	closeWithin(t, d, 10*time.Second)
	got := rc.requests()
	if len(got) != 15 {
		t.Fatalf("delivered %d, want all 15 before Close returned", len(got))
	}
	for i, r := range got {
		want := `"status":"` + string(statuses[i%3]) + `"`
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("request %d out of order: want %s", i, want)
		}
	}
	// Events after Close are dropped, not a panic.
	d.Notify(pipelineEvent(Failed))
	if s := d.Stats(); s.Dropped != 1 {
		t.Errorf("stats after close %+v", s)
	}
}

func TestCloseGivesUpAtDeadline(t *testing.T) {
	rc := newReceiver(t, func(int, received, http.Header) (int, string) { return http.StatusServiceUnavailable, "" })
	opts := testOptions(&logBuffer{})
	opts.MinBackoff, opts.MaxBackoff = time.Hour, time.Hour
	d := NewDispatcher([]Target{{Name: "slack", Notifier: Slack{URL: rc.URL}}}, opts)
	d.Notify(pipelineEvent(Failed))
	d.Notify(pipelineEvent(Success))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Close took %v after its deadline", waited)
	}
	if s := d.Stats(); s.Failed != 1 || s.Dropped != 1 {
		t.Errorf("stats %+v, want the retrying event failed and the queued one dropped", s)
	}
}

func TestStaleRetryIsAbandoned(t *testing.T) {
	// The receiver fails "running" and accepts "success": once success is
	// queued, retrying running would only overwrite it.
	rc := newReceiver(t, func(_ int, r received, _ http.Header) (int, string) {
		if strings.Contains(string(r.Body), `"state":"pending"`) {
			return http.StatusInternalServerError, ""
		}
		return http.StatusCreated, "{}"
	})
	opts := testOptions(&logBuffer{})
	opts.MinBackoff, opts.MaxBackoff = 100*time.Millisecond, 100*time.Millisecond
	d := NewDispatcher([]Target{{Name: "gh", Notifier: GitHubStatus{BaseURL: rc.URL, Token: "t"}}}, opts)
	d.Notify(pipelineEvent(Running))
	d.Notify(pipelineEvent(Success))
	closeWithin(t, d, 10*time.Second)
	var states []string
	for _, r := range rc.requests() {
		states = append(states, decode(t, r.Body)["state"].(string))
	}
	if strings.Join(states, ",") != "pending,success" {
		t.Errorf("states sent: %v, want pending (failed, abandoned) then success", states)
	}
	if s := d.Stats(); s.Superseded != 1 || s.Delivered != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestTargetEventFilter(t *testing.T) {
	tg := Target{Events: []string{"pipeline.failed", "job.*"}}
	for e, want := range map[string]bool{"pipeline.failed": true, "pipeline.success": false, "job.running": true} {
		kind, status, _ := strings.Cut(e, ".")
		ev := Event{Kind: Kind(kind), Status: Status(status)}
		if tg.Wants(ev) != want {
			t.Errorf("Wants(%s) = %v", e, !want)
		}
	}
	if !(Target{}).Wants(pipelineEvent(Success)) {
		t.Error("a target without patterns wants everything")
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	d := &Dispatcher{opts: Options{MinBackoff: time.Second, MaxBackoff: 8 * time.Second}}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		for range 50 {
			if b := d.backoff(attempt); b < want/2 || b > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, b, want/2, want)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-1":                            0,
		"Wed, 01 Jan 2025 12:01:00 GMT": time.Minute,
		"Wed, 01 Jan 2025 11:00:00 GMT": 0,
		"soon":                          0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
