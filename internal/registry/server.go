package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/slipway-cd/slipway/internal/httpdrain"
)

// DefaultAddr is where the registry listens unless told otherwise: loopback,
// so that nothing is exposed before auth and TLS are configured.
const DefaultAddr = "127.0.0.1:5000"

// Server serves a Registry over HTTP, or HTTPS when given a certificate.
type Server struct {
	Handler http.Handler
	// Addr to listen on; DefaultAddr when empty, port 0 picks a free port.
	Addr string
	// TLSCert and TLSKey are PEM files; both empty means plain HTTP.
	TLSCert, TLSKey string

	ln    net.Listener
	srv   *http.Server
	drain *httpdrain.Drain
	tls   bool
}

// Start listens and serves in the background until ctx ends (then it shuts
// down gracefully) or Close is called.
func (s *Server) Start(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("registry server: give both a TLS certificate and its key, or neither")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("registry server: %w", err)
	}
	if s.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("registry server: TLS certificate %s: %w", s.TLSCert, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		s.tls = true
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler, ReadHeaderTimeout: 30 * time.Second}
	s.drain = httpdrain.Track(s.srv)
	go func() { _ = s.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(shutdownCtx)
	}()
	return nil
}

// ListenAddr returns the address the server listens on (host:port).
func (s *Server) ListenAddr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns the base URL of the server, e.g. http://127.0.0.1:5000.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ListenAddr()
}

// Shutdown stops the server gracefully: it stops accepting connections and
// waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.drain.Shutdown(ctx)
}

// Close stops the server at once, cutting requests in flight.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}
