package server

import (
	"net/http"
	"net/url"
)

// uiGitops is the GitOps page: each deployment with its source commit and
// apps, the image policies' choices and the image updates' last runs.
func (s *Server) uiGitops(w http.ResponseWriter, r *http.Request) {
	v, err := s.gitopsView()
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "gitops", "layout", "GitOps", "gitops", v)
}

// uiReconcileGitops is the "Reconcile now" button: it asks for a pass and
// shows the page again, where the pass's result appears.
func (s *Server) uiReconcileGitops(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("deployment")
	back := "/gitops#deployment-" + url.PathEscape(name)
	s.uiAct(w, r, back, func() (string, error) {
		return back, s.requestReconcile(name)
	})
}
