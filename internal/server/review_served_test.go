package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
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
	closeAndCheck(t, s, p.ID, name, "Feature/Slow_Start", sha, proxyAddr, host)
}

// closeAndCheck closes merge request 1 and waits until its environment
// is stopped with nothing left.
func closeAndCheck(t *testing.T, s *serverProc, pipelineID int64, name, branch, sha, proxyAddr, host string) {
	t.Helper()
	e := s.environment(name)
	mergeRequest(t, s, 1, "close", branch, sha)
	if st := s.waitEnvironment(name, "stopped"); st != "stopped" {
		t.Fatalf("%s after the close\n%s", st, s.jobReport(pipelineID, "stop"))
	}
	checkNothingLeft(t, s, e, proxyAddr, host)
}

// TestReviewURLsOverHTTPS: with proxy.embedded.https, a review environment
// answers over HTTPS with a certificate of the proxy's local CA (the domain
// cannot reach an ACME CA here), which `slipway env ca` and the API export:
// a client trusting it gets the page, and `env deploy` prints the https URL.
func TestReviewURLsOverHTTPS(t *testing.T) {
	testenv.Docker(t)
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	t.Setenv("PATH", filepath.Dir(slipwayBin)+":"+os.Getenv("PATH"))
	proxyAddr, httpsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "slipway.yml")
	os.WriteFile(config, []byte(fmt.Sprintf(`
proxy:
  domain: review.example.com
  embedded:
    listen: %s
    https: {listen: %s, issuer: internal}
environments:
  enabled: true
  ports: 18040-18999
  auto_stop_tick: 500ms
`, proxyAddr, httpsAddr)), 0o644)
	repo, sha := gitRepo(t, map[string]string{".gitlab-ci.yml": webPipeline("1 day", "[slipway env stop]"), "compose.yaml": webCompose})
	s := startServer(t, storetest.SQLiteURL(t), filepath.Join(dir, "data"), config)
	if code := s.do("POST", "/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "webhook_secret": secret}, nil); code != 201 {
		t.Fatal(code)
	}
	pushWebImages(t, s, 1)

	p := mergeRequest(t, s, 1, "open", "feature/tls", sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool { return finished(p) || p.job("deploy").Status == "success" })
	if p.job("deploy").Status != "success" {
		t.Fatalf("deploy: %s", s.jobReport(p.ID, "deploy"))
	}
	const host = "review-feature-tls.review.example.com"
	_, port, _ := net.SplitHostPort(httpsAddr)
	want := fmt.Sprintf("web: https://%s:%s/ (127.0.0.1:", host, port)
	if log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("deploy").ID)); !strings.Contains(log, want) {
		t.Errorf("the deploy job's log lacks %q:\n%s", want, log)
	}

	ca := s.text("/api/proxy/ca.crt")
	out, err := s.cli("env", "ca").Output()
	if err != nil || string(out) != ca {
		t.Errorf("slipway env ca: %v\n%s\nwant the API's\n%s", err, out, ca)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		t.Fatalf("the exported CA does not parse:\n%s", ca)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, httpsAddr)
		},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("https://" + host + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "review of feature/tls" {
				t.Errorf("https://%s: %s %q", host, resp.Status, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://%s never answered: %v", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	closeAndCheck(t, s, p.ID, "review/feature-tls", "feature/tls", sha, proxyAddr, host)
}
