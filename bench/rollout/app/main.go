// Command app is the benchmark's application: it answers $STATUS with the
// body $MARK on every path but /healthz (200 ok). A static Go server, so
// that 200 req/s measure the rollout, not a CGI's fork per request.
package main

import (
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	status, err := strconv.Atoi(os.Getenv("STATUS"))
	if err != nil {
		log.Fatalf("STATUS: %v", err)
	}
	mark := os.Getenv("MARK")
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(mark + "\n"))
	})
	srv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
