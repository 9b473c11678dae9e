package server

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Sign-in attempts with a wrong token allowed per client address and
// window: enough for typos, far too few to guess a token.
const (
	signInFailures = 10
	signInWindow   = time.Minute
)

// signInLimit counts wrong sign-ins per client address in fixed windows.
type signInLimit struct {
	mu    sync.Mutex
	fails map[string]*signInWindowCount
}

type signInWindowCount struct {
	start time.Time
	n     int
}

// clientAddr is the address a request came from, without its port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfter is how long addr must wait before its next attempt; zero
// when it may try now.
func (l *signInLimit) retryAfter(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.fails[addr]
	if c == nil || now.Sub(c.start) >= signInWindow || c.n < signInFailures {
		return 0
	}
	return c.start.Add(signInWindow).Sub(now)
}

// failed records a wrong token from addr.
func (l *signInLimit) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string]*signInWindowCount{}
	}
	for a, c := range l.fails {
		// Old windows go, so that the map holds only recent addresses.
		if now.Sub(c.start) >= signInWindow {
			delete(l.fails, a)
		}
	}
	c := l.fails[addr]
	if c == nil {
		c = &signInWindowCount{start: now}
		l.fails[addr] = c
	}
	c.n++
}

// refuse answers 429 with Retry-After in whole seconds, rounded up.
func (l *signInLimit) refuse(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	http.Error(w, "too many wrong sign-ins from your address: try again later", http.StatusTooManyRequests)
}
