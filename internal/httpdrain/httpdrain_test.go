package httpdrain_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/httpdrain"
)

// A client that dialed and sent nothing must not hold a stop, and a request
// in flight must still get its whole answer.
func TestShutdownClosesSilentConnectionsAndFinishesRequests(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})}
	d := httpdrain.Track(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()

	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-started

	// Shutdown's own rule would close the silent connection after five
	// seconds: the read fails unless it is closed well before. The request
	// in flight gets a generous budget, the machine may be loaded.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- d.Shutdown(ctx) }()

	if err := silent.SetReadDeadline(time.Now().Add(4 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("silent connection: read gave %v, want EOF (closed by the server)", err)
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Errorf("request in flight during the stop got %q, want its answer", got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
