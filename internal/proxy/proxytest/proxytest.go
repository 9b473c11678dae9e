// Package proxytest has what tests of routes and environments share:
// asking a proxy for a hostname, and one-upstream routes.
package proxytest

import (
	"io"
	"net/http"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// Get asks url with host as its Host header, as a client of that hostname
// reaches the proxy, and returns the status and the body.
func Get(c *http.Client, url, host string) (int, string, error) {
	return Do(c, http.MethodGet, url, host, nil)
}

// Do is Get with another method and a body (nil for none).
func Do(c *http.Client, method, url, host string, body io.Reader) (int, string, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Route is a route of one hostname to one upstream.
func Route(id, host, addr string) proxy.Route {
	return proxy.Route{ID: id, Hosts: []string{host}, Upstreams: []proxy.Upstream{{Addr: addr}}}
}
