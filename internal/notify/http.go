package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrPermanent marks failures a retry cannot fix (a rejected request, an
// event missing what the receiver needs). The dispatcher does not retry them.
var ErrPermanent = errors.New("permanent failure")

// StatusError is a delivery answered with a non-2xx status.
type StatusError struct {
	// Target is the receiver's scheme and host only: a Slack webhook URL
	// is itself a secret.
	Target     string
	StatusCode int
	// RetryAfter is the receiver's Retry-After, if any.
	RetryAfter time.Duration
	// Body is the start of the answer, with secrets removed.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered %d %s", e.Target, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Temporary tells whether another attempt may succeed: 408, 429 and 5xx.
func (e *StatusError) Temporary() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Is makes errors.Is(err, ErrPermanent) true for the other statuses.
func (e *StatusError) Is(target error) bool { return target == ErrPermanent && !e.Temporary() }

// retryable tells whether err is worth another attempt and how long the
// receiver asked to wait.
func retryable(err error) (bool, time.Duration) {
	if errors.Is(err, ErrPermanent) {
		return false, 0
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary(), se.RetryAfter
	}
	return true, 0 // network errors and timeouts
}

// request is one HTTP call of a notifier.
type request struct {
	client  *http.Client
	url     string
	headers http.Header
	body    []byte
	// secrets are removed from any error text.
	secrets []string
}

// post sends the request. Its errors name the receiver by scheme and host
// only and never contain the URL's path, the headers or the secrets.
func (r request) post(ctx context.Context) error {
	target := redactURL(r.url)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(r.body))
	if err != nil {
		return fmt.Errorf("%w: invalid request to %s", ErrPermanent, target)
	}
	if r.headers != nil {
		req.Header = r.headers.Clone()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Slipway")
	client := r.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return fmt.Errorf("POST %s: %s", target, r.redact(err.Error()))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body := strings.Join(strings.Fields(r.redact(string(snippet))), " ")
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	return &StatusError{Target: target, StatusCode: resp.StatusCode, Body: body,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

func (r request) redact(s string) string {
	for _, secret := range r.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// redactURL keeps a URL's scheme and host.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
