package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hostCheck answers only requests whose Host names this server: a loopback
// name or address, an address it listens on, base_url's host or one of
// allowed_hosts. A page on a DNS-rebinding domain reaches the server from
// the browser as same-origin, with its own domain in Host: it is refused
// here, before the cross-origin check that it would pass.
type hostCheck struct {
	names map[string]bool
	// ips are the addresses the server listens on; with an unspecified
	// listen address, every address of the machine.
	ips map[string]bool
}

// newHostCheck collects the names and addresses this server answers to;
// listen is the bound address (after an unspecified port got one).
func newHostCheck(listen, baseURL string, allowed []string) (*hostCheck, error) {
	hc := &hostCheck{names: map[string]bool{}, ips: map[string]bool{}}
	for _, h := range allowed {
		hc.names[normalHost(h)] = true
	}
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil {
			return nil, fmt.Errorf("base_url %q: %w", baseURL, err)
		}
		hc.names[normalHost(u.Hostname())] = true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		hc.names[normalHost(host)] = true
	case ip.IsUnspecified():
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("listen %q: the machine's addresses: %w", listen, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				hc.ips[n.IP.String()] = true
			}
		}
	default:
		hc.ips[ip.String()] = true
	}
	return hc, nil
}

// normalHost is a host name as compared: lower case, no trailing dot.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// allows says whether a request's Host (with or without a port) names
// this server. The port is not compared: rebinding keeps it.
func (hc *hostCheck) allows(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || hc.ips[ip.String()]
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	return host != "" && hc.names[host]
}

// handler refuses the requests for another host with 421 Misdirected
// Request, naming the host and the setting that would allow it.
func (hc *hostCheck) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hc.allows(r.Host) {
			http.Error(w, fmt.Sprintf("slipway: the host %q is not this server's: add it to allowed_hosts, or set base_url to it", r.Host),
				http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
