package httpse2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
)

// TestReviewURLsOverHTTPS: with HTTPS on and the default issuer, review
// hostnames under a domain that cannot get a public certificate (here
// *.review.internal, offline) get certificates from Caddy's local CA. A
// client trusting the exported CA gets the page over TLS; one that does
// not is refused. A route added later gets its certificate too, and plain
// HTTP keeps working.
func TestReviewURLsOverHTTPS(t *testing.T) {
	ctx := context.Background()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "review of "+r.Host)
	}))
	defer backend.Close()
	r, err := embedded.Start(ctx, embedded.Config{Listen: "127.0.0.1:0", StorageDir: t.TempDir(), LogLevel: "ERROR",
		GracePeriod: 5 * time.Second, HTTPS: embedded.HTTPSConfig{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	apply := func(env, host string) {
		t.Helper()
		id, err := proxy.RouteID(env, "app")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(ctx, proxy.Route{ID: id, Hosts: []string{host}, Upstreams: []proxy.Upstream{{Addr: strings.TrimPrefix(backend.URL, "http://")}}}); err != nil {
			t.Fatal(err)
		}
	}
	apply("review-feature-x", "review-feature-x.review.internal")

	ca, err := r.RootCA()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(ca), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("RootCA is not a PEM certificate: %q", ca)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("the exported CA does not parse")
	}
	client := func(roots *x509.CertPool) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, r.HTTPSAddr())
			},
		}}
	}
	trusting := client(pool)
	// Caddy issues the certificate in the background once the route is
	// in: wait for it.
	get := func(host string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := trusting.Get("https://" + host + "/")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.TLS == nil {
					t.Fatalf("https://%s: %s, TLS %v", host, resp.Status, resp.TLS != nil)
				}
				return string(body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("https://%s never answered: %v", host, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := get("review-feature-x.review.internal"); got != "review of review-feature-x.review.internal" {
		t.Errorf("over HTTPS: %q", got)
	}

	var unknown *tls.CertificateVerificationError
	if _, err := client(x509.NewCertPool()).Get("https://review-feature-x.review.internal/"); !errors.As(err, &unknown) {
		t.Errorf("a client that does not trust the CA: err = %v, want a certificate verification error", err)
	}

	apply("review-feature-y", "review-feature-y.review.internal")
	if got := get("review-feature-y.review.internal"); got != "review of review-feature-y.review.internal" {
		t.Errorf("the second route over HTTPS: %q", got)
	}
	if got := get("review-feature-x.review.internal"); got != "review of review-feature-x.review.internal" {
		t.Errorf("the first route after the second came: %q", got)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+r.Addr()+"/", nil)
	req.Host = "review-feature-x.review.internal"
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("plain HTTP: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
