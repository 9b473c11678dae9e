// Package httpdrain shuts an http.Server down without waiting for
// connections that never sent a request.
//
// http.Server.Shutdown counts a connection that has not sent a byte yet as
// active for five seconds, so one idle client (a browser's preconnect, a
// health checker that dialed and waits) holds every stop for five seconds.
// Such a connection has nothing in flight: closing it loses nothing.
package httpdrain

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// Drain tracks the connections of one http.Server that are still new.
type Drain struct {
	srv *http.Server

	mu       sync.Mutex
	fresh    map[net.Conn]struct{}
	stopping bool
}

// Track hooks srv's ConnState (keeping any hook already set); call it before
// srv starts serving.
func Track(srv *http.Server) *Drain {
	d := &Drain{srv: srv, fresh: map[net.Conn]struct{}{}}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		d.mu.Lock()
		switch {
		case st == http.StateNew && d.stopping:
			_ = c.Close()
		case st == http.StateNew:
			d.fresh[c] = struct{}{}
		default:
			delete(d.fresh, c)
		}
		d.mu.Unlock()
		if prev != nil {
			prev(c, st)
		}
	}
	return d
}

// Shutdown closes the connections that have not sent a request yet, and
// those accepted from now on, then shuts the server down gracefully: it
// waits for requests in flight until ctx ends.
func (d *Drain) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.stopping = true
	for c := range d.fresh {
		_ = c.Close()
	}
	clear(d.fresh)
	d.mu.Unlock()
	return d.srv.Shutdown(ctx)
}
