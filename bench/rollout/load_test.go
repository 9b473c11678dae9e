package rollout

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
)

// load asks url for host at a fixed rate, each request on its own
// schedule (open loop: a slow answer does not slow the next request
// down, as with real users), until stop.
type load struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	t    tally
}

// tally is what the users got.
type tally struct {
	total  int
	codes  map[int]int    // answers by status
	bodies map[string]int // 2xx answers by body
	errors int            // no answer: refused, broken off, timed out
	sample string         // the first error
	// firstBad and lastBad are when the first and the last request
	// answered 5xx or failed were sent.
	firstBad, lastBad time.Time
	elapsed           time.Duration
}

func startLoad(url, host string, perSecond int) *load {
	l := &load{done: make(chan struct{}), t: tally{codes: map[int]int{}, bodies: map[string]int{}}}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: perSecond}}
	every := time.Second / time.Duration(perSecond)
	start := time.Now()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-l.done:
				l.mu.Lock()
				l.t.elapsed = time.Since(start)
				l.mu.Unlock()
				return
			case <-time.After(time.Until(start.Add(time.Duration(i) * every))):
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				sent := time.Now()
				code, body, err := proxytest.Get(c, url, host)
				l.record(sent, code, strings.TrimSpace(body), err)
			}()
		}
	}()
	return l
}

func (l *load) record(sent time.Time, code int, body string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.t
	t.total++
	switch {
	case err != nil:
		t.errors++
		if t.sample == "" {
			t.sample = err.Error()
		}
	default:
		t.codes[code]++
		if code >= 200 && code < 300 {
			t.bodies[body]++
		}
	}
	if err != nil || code >= 500 {
		if t.firstBad.IsZero() || sent.Before(t.firstBad) {
			t.firstBad = sent
		}
		if sent.After(t.lastBad) {
			t.lastBad = sent
		}
	}
}

// stop stops sending, waits for every answer and returns the tally.
func (l *load) stop() *tally {
	close(l.done)
	l.wg.Wait()
	return &l.t
}

// failed counts the requests a user saw fail: not 2xx, or no answer.
func (t *tally) failed() int {
	n := t.errors
	for code, c := range t.codes {
		if code < 200 || code >= 300 {
			n += c
		}
	}
	return n
}

// badWindow is how long requests kept failing: from the first to the last.
func (t *tally) badWindow() time.Duration { return t.lastBad.Sub(t.firstBad) }

// rate is the requests sent per second.
func (t *tally) rate() float64 { return float64(t.total) / t.elapsed.Seconds() }

func (t *tally) String() string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(t.codes)) {
		parts = append(parts, fmt.Sprintf("%d: %d", code, t.codes[code]))
	}
	for _, body := range slices.Sorted(maps.Keys(t.bodies)) {
		parts = append(parts, fmt.Sprintf("%q: %d", body, t.bodies[body]))
	}
	s := fmt.Sprintf("%d requests in %s (%.0f/s), %d failed (%s), %d errors", t.total, t.elapsed.Round(time.Millisecond),
		t.rate(), t.failed(), strings.Join(parts, ", "), t.errors)
	if t.sample != "" {
		s += " (first: " + t.sample + ")"
	}
	return s
}
