// Command sigver is the example signaling server: peers post messages to a
// room and read the room's messages back. Rooms live in memory.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
)

type rooms struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func handler() http.Handler {
	rs := &rooms{msgs: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "sigver")
	})
	mux.HandleFunc("POST /rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rs.mu.Lock()
		rs.msgs[r.PathValue("room")] = append(rs.msgs[r.PathValue("room")], string(b))
		rs.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		msgs := append([]string{}, rs.msgs[r.PathValue("room")]...)
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(msgs)
	})
	return mux
}

func main() {
	addr := ":9000"
	if v := os.Getenv("LISTEN"); v != "" {
		addr = v
	}
	log.Printf("sigver listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, handler()))
}
