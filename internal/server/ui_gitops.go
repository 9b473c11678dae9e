package server

import (
	"net/http"
	"net/url"
)

// uiGitopsData is what the GitOps page and its live part show.
type uiGitopsData struct {
	gitopsView
	// CanAct and Path are the layout's, for the live part's buttons.
	CanAct bool
	Path   string
}

// uiGitops is the GitOps page: each deployment with its source commit and
// apps, the image policies' choices and the image updates' last runs.
func (s *Server) uiGitops(w http.ResponseWriter, r *http.Request) { s.uiGitopsPart(w, r, "layout") }

// uiGitopsLive is the page's live part, which the page fetches again
// every few seconds.
func (s *Server) uiGitopsLive(w http.ResponseWriter, r *http.Request) { s.uiGitopsPart(w, r, "live") }

func (s *Server) uiGitopsPart(w http.ResponseWriter, r *http.Request, tmpl string) {
	v, err := s.gitopsView()
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	// The buttons lead back to the page, also from the live part.
	d := uiGitopsData{gitopsView: v, CanAct: s.uiAuthorized(r), Path: "/gitops"}
	s.render(w, r, http.StatusOK, "gitops", tmpl, "GitOps", "gitops", d)
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

// uiRunImageUpdate is an image update's "Run now" button.
func (s *Server) uiRunImageUpdate(w http.ResponseWriter, r *http.Request) {
	s.uiAct(w, r, "/gitops", func() (string, error) {
		_, err := s.runImageUpdate(r)
		return "/gitops", err
	})
}
