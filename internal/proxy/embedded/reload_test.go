package embedded

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/slipway-cd/slipway/internal/proxy/proxytest"
)

// clientKind is one way a browser reaches the proxy.
type clientKind struct {
	name string
	do   func(proxyURL string) (int, string, error)
}

// clientKinds are the clients of the reload test: kept-alive and fresh
// connections, GETs (which Go's transport, like browsers, retries once on a
// kept-alive connection the server closed) and POSTs (which it does not).
// serverClosed counts the kept-alive connections the proxy closed.
func clientKinds(serverClosed *atomic.Int64) []clientKind {
	var d net.Dialer
	keep := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: keptAliveClients,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &eofCountingConn{Conn: c, eofs: serverClosed}, nil
		},
	}}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(c *http.Client) func(string) (int, string, error) {
		return func(u string) (int, string, error) { return proxytest.Get(c, u, appHost) }
	}
	post := func(c *http.Client) func(string) (int, string, error) {
		return func(u string) (int, string, error) {
			return proxytest.Do(c, http.MethodPost, u, appHost, strings.NewReader("form=1"))
		}
	}
	return []clientKind{
		{"GET kept-alive", get(keep)},
		{"POST kept-alive", post(keep)},
		{"GET fresh connection", get(fresh)},
		{"POST fresh connection", post(fresh)},
	}
}

// eofCountingConn counts the connections whose peer closed them: a read
// that ends in EOF. Counting dials instead would also count the spare
// connections Go's transport opens when a request starts before the last
// one's connection is back in the idle pool.
type eofCountingConn struct {
	net.Conn
	eofs *atomic.Int64
	once sync.Once
}

func (c *eofCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.once.Do(func() { c.eofs.Add(1) })
	}
	return n, err
}

// clientsPerKind run each client kind; the two kept-alive kinds share one
// pool of connections.
const (
	clientsPerKind   = 2
	keptAliveClients = 2 * clientsPerKind
)

// Review environments come and go all day: adding and removing the routes
// of other hostnames must not fail a single request to an environment that
// stays, whatever the client's connection, nor close its kept-alive
// connections.
func TestAddRemoveOtherRoutesDropsNoRequest(t *testing.T) {
	r := start(t)
	backendA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		fmt.Fprintf(w, "A %s %s", req.Method, req.Host)
	}))
	t.Cleanup(backendA.Close)
	addrB, _ := upstream(t, "B")
	ctx := context.Background()
	if err := r.Apply(ctx, proxytest.Route(appID, appHost, strings.TrimPrefix(backendA.URL, "http://"))); err != nil {
		t.Fatal(err)
	}

	var (
		stop     atomic.Bool
		closed   atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures = map[string][]string{}
		total    = map[string]int{}
		kinds    = clientKinds(&closed)
	)
	for _, k := range kinds {
		want := fmt.Sprintf("A %s %s", strings.Fields(k.name)[0], appHost)
		for range clientsPerKind {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					code, body, err := k.do("http://" + r.Addr() + "/")
					mu.Lock()
					total[k.name]++
					if err != nil || code != 200 || body != want {
						failures[k.name] = append(failures[k.name], fmt.Sprintf("%d %q %v", code, body, err))
					}
					mu.Unlock()
				}
			}()
		}
	}

	// At least 30 cycles, and on until every kind has sent enough requests
	// while routes change.
	fewest := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := -1
		for _, k := range kinds {
			if n < 0 || total[k.name] < n {
				n = total[k.name]
			}
		}
		return n
	}
	const minCycles, minRequests, others = 30, 250, 3
	changes := 0
	for c := 0; c < minCycles || fewest() < minRequests; c++ {
		changes += 2 * others
		for i := range others {
			id := fmt.Sprintf("slipway-review-b%d--app", i)
			if err := r.Apply(ctx, proxytest.Route(id, fmt.Sprintf("review-b%d.review.test", i), addrB)); err != nil {
				t.Fatalf("cycle %d: %v", c, err)
			}
		}
		for i := range others {
			if err := r.Remove(ctx, fmt.Sprintf("slipway-review-b%d--app", i)); err != nil {
				t.Fatalf("cycle %d: %v", c, err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()

	all, failed := 0, 0
	for _, k := range kinds {
		all += total[k.name]
		failed += len(failures[k.name])
		if total[k.name] == 0 {
			t.Errorf("%s: no request ran during the route changes", k.name)
		}
		if f := failures[k.name]; len(f) > 0 {
			t.Errorf("%s: %d of %d requests to %s failed, first: %s", k.name, len(f), total[k.name], appHost, f[0])
		}
	}
	if n := closed.Load(); n > 0 {
		t.Errorf("the proxy closed %d kept-alive connections during the route changes, want none", n)
	}
	t.Logf("%d requests to %s during %d route changes, %d failed; the proxy closed %d kept-alive connections",
		all, appHost, changes, failed, closed.Load())
}
