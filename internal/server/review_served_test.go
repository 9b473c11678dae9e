package server_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// slowCompose is webCompose whose app takes 3 s to start serving.
var slowCompose = strings.Replace(webCompose, `command: ["httpd", "-f", "-p", "8080", "-h", "/www"]`,
	`command: ["sh", "-c", "sleep 3 && exec httpd -f -p 8080 -h /www"]`, 1)

// TestReviewEnvironmentServedWhenAvailable: an environment shows available
// only once its hostname answers through the proxy, that hostname is the
// seed's review-<branch>.<domain>, and `slipway env deploy` prints it with
// the proxy's port, where people open it.
func TestReviewEnvironmentServedWhenAvailable(t *testing.T) {
	s, proxyAddr, sha := webProjectWith(t, webPipeline("1 day", "[slipway env stop]"), slowCompose, "", 1)
	p := mergeRequest(t, s, 1, "open", "Feature/Slow_Start", sha)
	const name = "review/feature-slow-start"
	host := "review-feature-slow-start.review.example.com"

	deadline := time.Now().Add(2 * time.Minute)
	sawAvailable := false
	for !sawAvailable {
		if time.Now().After(deadline) {
			t.Fatalf("never available\n%s", s.jobReport(p.ID, "deploy"))
		}
		e := s.environment(name)
		if e.State == "available" {
			sawAvailable = true
			if code, body, err := viaProxy(proxyAddr, host, "/"); code != 200 || body != "review of Feature/Slow_Start" {
				t.Errorf("the environment shows available, but %s answers %d %q (%v) through the proxy", host, code, body, err)
			}
		} else if e.ID != 0 && e.State != "deploying" {
			t.Fatalf("state %q during the first deploy, want deploying", e.State)
		}
		time.Sleep(20 * time.Millisecond)
	}

	p = s.waitPipeline(p.ID, func(p pipeline) bool { return finished(p) || p.job("deploy").Status == "success" })
	if j := p.job("deploy"); j.Status != "success" {
		t.Fatalf("deploy: %s", s.jobReport(p.ID, "deploy"))
	}
	_, port, _ := net.SplitHostPort(proxyAddr)
	want := fmt.Sprintf("web: http://%s:%s/ (127.0.0.1:", host, port)
	if log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("deploy").ID)); !strings.Contains(log, want) {
		t.Errorf("the deploy job's log lacks %q:\n%s", want, log)
	}
}
