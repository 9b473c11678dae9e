package server

import "net/http"

// routesUI adds the web UI's pages.
func (s *Server) routesUI(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/projects", http.StatusFound)
	})
}
