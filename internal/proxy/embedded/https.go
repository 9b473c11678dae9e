package embedded

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"
)

// HTTPS: the proxy serves every route's hostnames over TLS too, with
// certificates that Caddy's TLS app manages: from an ACME CA (Let's
// Encrypt, ZeroSSL) for a public name, from Caddy's own local CA otherwise.
// As with plain HTTP, the Router's own server owns the TLS socket and its
// connections (serve.go); each handshake takes the TLS settings, and so the
// certificates, of the config that runs now.

// HTTPSConfig configures HTTPS (config keys under proxy.embedded.https).
type HTTPSConfig struct {
	// Listen is where the TLS server listens (proxy.embedded.https.listen),
	// e.g. :443 or 127.0.0.1:8443; empty: no HTTPS.
	Listen string `yaml:"listen"`
	// Issuer picks the certificates' CA (proxy.embedded.https.issuer):
	// IssuerAuto (the default), IssuerInternal or IssuerACME.
	Issuer string `yaml:"issuer"`
	// Email is the ACME account's address (proxy.embedded.https.email),
	// for the CA's expiry notices; optional.
	Email string `yaml:"email"`
}

// Issuers of HTTPSConfig.
const (
	// IssuerAuto is Caddy's automatic HTTPS: ACME for a hostname that
	// can get a public certificate, the internal CA for the others
	// (localhost, *.local, *.internal, *.home.arpa, IP addresses).
	IssuerAuto = "auto"
	// IssuerInternal signs every hostname with Caddy's local CA: for a
	// domain the Internet cannot reach, or a host without it.
	IssuerInternal = "internal"
	// IssuerACME asks an ACME CA for every hostname; a name that cannot
	// get a public certificate fails.
	IssuerACME = "acme"
)

func (h HTTPSConfig) check() error {
	switch h.Issuer {
	case "", IssuerAuto, IssuerInternal, IssuerACME:
		return nil
	}
	return fmt.Errorf("proxy.embedded.https.issuer %q: want %s, %s or %s", h.Issuer, IssuerAuto, IssuerInternal, IssuerACME)
}

// tlsApp is the config's "tls" and "pki" apps for hosts: certificates
// managed for each ("automate"), by the issuer asked for.
func (h HTTPSConfig) tlsApp(hosts []string) (tlsApp, pkiApp map[string]any) {
	acme := map[string]any{"module": "acme"}
	if h.Email != "" {
		acme["email"] = h.Email
	}
	internal := map[string]any{"module": "internal"}
	var policies []any
	switch h.Issuer {
	case IssuerInternal:
		policies = append(policies, map[string]any{"issuers": []any{internal}})
	case IssuerACME:
		policies = append(policies, map[string]any{"issuers": []any{acme}})
	default:
		// Caddy's defaults pick ACME or the internal CA by name; the
		// policy only carries the account's email.
		var public []string
		for _, host := range hosts {
			if certmagic.SubjectQualifiesForPublicCert(host) {
				public = append(public, host)
			}
		}
		if h.Email != "" && len(public) > 0 {
			policies = append(policies, map[string]any{"subjects": public, "issuers": []any{acme}})
		}
	}
	tlsApp = map[string]any{"certificates": map[string]any{"automate": append([]string{}, hosts...)}}
	if len(policies) > 0 {
		tlsApp["automation"] = map[string]any{"policies": policies}
	}
	// The local CA's root is exported (RootCA), never installed in this
	// host's trust store: that needs root and asks for a password.
	pkiApp = map[string]any{"certificate_authorities": map[string]any{
		caddypki.DefaultCAID: map[string]any{"name": "Slipway review proxy CA", "install_trust": false},
	}}
	return tlsApp, pkiApp
}

// activeTLS is the TLS settings of the config that runs now; nil without
// HTTPS.
var activeTLS atomic.Pointer[tls.Config]

// provisionTLS builds the TLS settings of the config's TLS app, when it
// has one: one connection policy, that of Caddy's servers by default.
func provisionTLS(ctx caddy.Context) (*tls.Config, error) {
	if _, err := ctx.AppIfConfigured("tls"); errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	policies := caddytls.ConnectionPolicies{new(caddytls.ConnectionPolicy)}
	if err := policies.Provision(ctx); err != nil {
		return nil, fmt.Errorf("tls connection policy: %w", err)
	}
	return policies.TLSConfig(ctx), nil
}

// serverTLS is the config of the Router's TLS listener: each handshake
// takes the running config's settings.
func serverTLS() *tls.Config {
	return &tls.Config{
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c := activeTLS.Load()
			if c == nil {
				return nil, errors.New("slipway: the proxy is stopping")
			}
			if c.GetConfigForClient != nil {
				return c.GetConfigForClient(hello)
			}
			return c, nil
		},
	}
}

// rootCA is the PEM of the local CA's root certificate in the running
// config.
func rootCA(ctx caddy.Context) ([]byte, error) {
	app, err := ctx.AppIfConfigured("pki")
	if err != nil {
		return nil, fmt.Errorf("no local CA: HTTPS is off (proxy.embedded.https.listen)")
	}
	ca, ok := app.(*caddypki.PKI).CAs[caddypki.DefaultCAID]
	if !ok || ca.RootCertificate() == nil {
		return nil, errors.New("the local CA has no root certificate yet")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.RootCertificate().Raw}), nil
}
