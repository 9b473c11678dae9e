package notify

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// received is one request as a receiver saw it.
type received struct {
	Method, Path, RawPath string
	Header                http.Header
	Body                  []byte
}

// receiver is a local HTTP endpoint that records requests and answers with
// the status reply returns for the n-th request (0-based).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []received
	reply replyFunc
}

// replyFunc answers the n-th request (0-based): it may set headers, and
// returns the status and body.
type replyFunc func(n int, r received, h http.Header) (int, string)

func newReceiver(t *testing.T, reply replyFunc) *receiver {
	rc := &receiver{reply: reply}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, got)
		rc.mu.Unlock()
		status, answer := http.StatusOK, "ok"
		if rc.reply != nil {
			status, answer = rc.reply(n, got, w.Header())
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) only(t *testing.T) received {
	t.Helper()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

func pipelineEvent(status Status) Event {
	return Event{
		Kind: KindPipeline, Status: status,
		Project:  Project{Name: "shop", Repo: "acme/shop", URL: "https://slipway.example.com/shop"},
		Pipeline: Pipeline{ID: 42, URL: "https://slipway.example.com/shop/pipelines/42", Source: "push", DurationSeconds: 95},
		Ref:      "main",
		SHA:      "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		Commit:   Commit{Title: "Fix <cart> & prices", Author: "Ada Lovelace", URL: "https://github.com/acme/shop/commit/0d1a26e6"},
	}
}

func jobEvent(status Status) Event {
	e := pipelineEvent(status)
	e.Kind = KindJob
	e.Job = &Job{ID: 7, Name: "test", Stage: "test", URL: "https://slipway.example.com/shop/jobs/7", DurationSeconds: 30}
	return e
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, b)
	}
	return m
}

func TestSlackMessage(t *testing.T) {
	rc := newReceiver(t, nil)
	s := Slack{URL: rc.URL + "/services/T000/B000/XXXX"}
	if err := s.Notify(context.Background(), pipelineEvent(Failed)); err != nil {
		t.Fatal(err)
	}
	r := rc.only(t)
	if r.Method != http.MethodPost || r.Path != "/services/T000/B000/XXXX" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %s %s %q", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	var msg struct {
		Text        string `json:"text"`
		Attachments []struct {
			Color  string `json:"color"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct {
					Type, Text string
				} `json:"text"`
				Fields []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"fields"`
				Elements []struct {
					Type, Text string
				} `json:"elements"`
			} `json:"blocks"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Text != "Pipeline #42 failed in shop on main" {
		t.Errorf("text = %q", msg.Text)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].Color != "#e01e5a" || len(msg.Attachments[0].Blocks) != 3 {
		t.Fatalf("attachments = %+v", msg.Attachments)
	}
	blocks := msg.Attachments[0].Blocks
	if blocks[0].Type != "section" || blocks[0].Text.Type != "mrkdwn" ||
		blocks[0].Text.Text != "*<https://slipway.example.com/shop/pipelines/42|Pipeline #42 failed>* in <https://slipway.example.com/shop|shop>" {
		t.Errorf("headline = %+v", blocks[0])
	}
	var fields []string
	for _, f := range blocks[1].Fields {
		if f.Type != "mrkdwn" {
			t.Errorf("field type %q", f.Type)
		}
		fields = append(fields, f.Text)
	}
	want := []string{
		"*Branch*\n`main`",
		"*Commit*\n<https://github.com/acme/shop/commit/0d1a26e6|0d1a26e6> Fix &lt;cart&gt; &amp; prices",
		"*Author*\nAda Lovelace",
		"*Duration*\n1m35s",
	}
	if strings.Join(fields, "|") != strings.Join(want, "|") {
		t.Errorf("fields:\n got %q\nwant %q", fields, want)
	}
	if blocks[2].Type != "context" || len(blocks[2].Elements) != 1 {
		t.Errorf("context block = %+v", blocks[2])
	}
}

func TestSlackColourByStatus(t *testing.T) {
	for status, want := range map[Status]string{Success: "#2eb67d", Failed: "#e01e5a", Canceled: "#868686", Running: "#36c5f0", Pending: "#ecb22e"} {
		rc := newReceiver(t, nil)
		if err := (Slack{URL: rc.URL}).Notify(context.Background(), pipelineEvent(status)); err != nil {
			t.Fatal(err)
		}
		m := decode(t, rc.only(t).Body)
		if got := m["attachments"].([]any)[0].(map[string]any)["color"]; got != want {
			t.Errorf("%s: colour %v, want %s", status, got, want)
		}
	}
}

func TestWebhookSignedPayload(t *testing.T) {
	secret := []byte("whsec-0123")
	rc := newReceiver(t, nil)
	if err := (Webhook{URL: rc.URL + "/hook", Secret: secret}).Notify(context.Background(), jobEvent(Failed)); err != nil {
		t.Fatal(err)
	}
	r := rc.only(t)
	// Verify as a receiver would: HMAC of the raw body, constant time.
	sig, ok := strings.CutPrefix(r.Header.Get("X-Slipway-Signature"), "sha256=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, Sign(secret, r.Body)) {
		t.Fatalf("signature %q does not verify", r.Header.Get("X-Slipway-Signature"))
	}
	if r.Header.Get("X-Slipway-Event") != "job.failed" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", r.Header)
	}
	m := decode(t, r.Body)
	if m["event"] != "job.failed" || m["kind"] != "job" || m["status"] != "failed" || m["ref"] != "main" ||
		m["sha"] != "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" || m["delivery"] != r.Header.Get("X-Slipway-Delivery") {
		t.Errorf("body: %s", r.Body)
	}
	job := m["job"].(map[string]any)
	if job["name"] != "test" || job["stage"] != "test" || job["id"] != 7.0 || job["url"] != "https://slipway.example.com/shop/jobs/7" {
		t.Errorf("job: %v", job)
	}
	if p := m["pipeline"].(map[string]any); p["id"] != 42.0 || p["source"] != "push" {
		t.Errorf("pipeline: %v", p)
	}
	if p := m["project"].(map[string]any); p["name"] != "shop" || p["repo"] != "acme/shop" {
		t.Errorf("project: %v", p)
	}
}

func TestGitHubCommitStatus(t *testing.T) {
	for _, tc := range []struct {
		event      Event
		state, ctx string
	}{
		{pipelineEvent(Pending), "pending", "slipway"},
		{pipelineEvent(Running), "pending", "slipway"},
		{pipelineEvent(Success), "success", "slipway"},
		{pipelineEvent(Failed), "failure", "slipway"},
		{pipelineEvent(Canceled), "error", "slipway"},
		{jobEvent(Failed), "failure", "slipway/test"},
	} {
		rc := newReceiver(t, func(int, received, http.Header) (int, string) { return http.StatusCreated, "{}" })
		g := GitHubStatus{BaseURL: rc.URL + "/api/v3/", Token: "ghp_secret"}
		if err := g.Notify(context.Background(), tc.event); err != nil {
			t.Fatal(err)
		}
		r := rc.only(t)
		if r.Path != "/api/v3/repos/acme/shop/statuses/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" {
			t.Errorf("path %s", r.Path)
		}
		if r.Header.Get("Authorization") != "Bearer ghp_secret" || r.Header.Get("Accept") != "application/vnd.github+json" ||
			r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
			t.Errorf("headers %v", r.Header)
		}
		m := decode(t, r.Body)
		if len(m) != 4 || m["state"] != tc.state || m["context"] != tc.ctx || m["target_url"] != tc.event.targetURL() ||
			len([]rune(m["description"].(string))) > 140 {
			t.Errorf("%s: body %s", tc.event.Name(), r.Body)
		}
	}
}

func TestGitHubStatusDescription(t *testing.T) {
	rc := newReceiver(t, nil)
	e := pipelineEvent(Success)
	if err := (GitHubStatus{BaseURL: rc.URL, Token: "t"}).Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if d := decode(t, rc.only(t).Body)["description"]; d != "Pipeline #42 passed in 1m35s" {
		t.Errorf("description %q", d)
	}
	e.Job = &Job{Name: strings.Repeat("very-long-job-name-", 20)}
	rc2 := newReceiver(t, nil)
	if err := (GitHubStatus{BaseURL: rc2.URL, Token: "t"}).Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if d := decode(t, rc2.only(t).Body)["description"].(string); len([]rune(d)) != 140 || !strings.HasSuffix(d, "…") {
		t.Errorf("long description not clipped to 140: %d runes", len([]rune(d)))
	}
}

func TestGitLabCommitStatus(t *testing.T) {
	for _, tc := range []struct {
		event       Event
		state, name string
	}{
		{pipelineEvent(Pending), "pending", "slipway"},
		{pipelineEvent(Running), "running", "slipway"},
		{pipelineEvent(Success), "success", "slipway"},
		{pipelineEvent(Failed), "failed", "slipway"},
		{pipelineEvent(Canceled), "canceled", "slipway"},
		{jobEvent(Running), "running", "slipway/test"},
	} {
		rc := newReceiver(t, func(int, received, http.Header) (int, string) { return http.StatusCreated, "{}" })
		e := tc.event
		e.Project.Repo = "acme/backend/shop"
		if err := (GitLabStatus{BaseURL: rc.URL, Token: "glpat-secret"}).Notify(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		r := rc.only(t)
		if r.RawPath != "/api/v4/projects/acme%2Fbackend%2Fshop/statuses/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" {
			t.Errorf("path %s", r.RawPath)
		}
		if r.Header.Get("PRIVATE-TOKEN") != "glpat-secret" || r.Header.Get("Authorization") != "" {
			t.Errorf("headers %v", r.Header)
		}
		m := decode(t, r.Body)
		if len(m) != 5 || m["state"] != tc.state || m["name"] != tc.name || m["ref"] != "main" || m["target_url"] != e.targetURL() ||
			m["description"] == "" {
			t.Errorf("%s: body %s", e.Name(), r.Body)
		}
	}
	// A numeric project id from the config wins over the event's path.
	rc := newReceiver(t, nil)
	if err := (GitLabStatus{BaseURL: rc.URL + "/", Token: "t", Project: "1234", Name: "ci"}).Notify(context.Background(), pipelineEvent(Success)); err != nil {
		t.Fatal(err)
	}
	if r := rc.only(t); r.RawPath != "/api/v4/projects/1234/statuses/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" || decode(t, r.Body)["name"] != "ci" {
		t.Errorf("override: %s %s", r.RawPath, r.Body)
	}
}

func TestStatusNeedsRepoAndSHA(t *testing.T) {
	e := pipelineEvent(Success)
	e.SHA = ""
	for _, n := range []Notifier{GitHubStatus{BaseURL: "http://127.0.0.1:1", Token: "t"}, GitLabStatus{BaseURL: "http://127.0.0.1:1", Token: "t"}} {
		if err := n.Notify(context.Background(), e); !errors.Is(err, ErrPermanent) {
			t.Errorf("%T without SHA: err = %v, want ErrPermanent", n, err)
		}
	}
	e = pipelineEvent(Success)
	e.Project.Repo = "no-slash"
	if err := (GitHubStatus{BaseURL: "http://127.0.0.1:1", Token: "t"}).Notify(context.Background(), e); !errors.Is(err, ErrPermanent) {
		t.Errorf("bad repo: err = %v, want ErrPermanent", err)
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	// A receiver that echoes the token back in its error answer.
	rc := newReceiver(t, func(_ int, r received, _ http.Header) (int, string) {
		return http.StatusUnauthorized, `{"message":"Bad credentials: ` + r.Header.Get("PRIVATE-TOKEN") + `"}`
	})
	err := (GitLabStatus{BaseURL: rc.URL, Token: "glpat-TOPSECRET", Project: "1"}).Notify(context.Background(), pipelineEvent(Success))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 || !errors.Is(err, ErrPermanent) {
		t.Fatalf("err = %v, want a permanent 401", err)
	}
	if strings.Contains(err.Error(), "TOPSECRET") || !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("error: %v", err)
	}
	// A Slack URL is a secret: an unreachable one is named by host only.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	err = (Slack{URL: dead.URL + "/services/T1/B2/SECRETPATH"}).Notify(context.Background(), pipelineEvent(Failed))
	if err == nil || strings.Contains(err.Error(), "SECRETPATH") || !strings.Contains(err.Error(), dead.Listener.Addr().String()) {
		t.Errorf("error: %v", err)
	}
}
