package server

import (
	"net/http"
	"slices"

	"github.com/slipway-cd/slipway/internal/store"
)

// listTriggers lists a project's trigger tokens: description, prefix and
// last use, never the tokens (only their hashes are kept).
func (s *Server) listTriggers(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListTriggerTokens(r.Context(), p.ID)
	if ts == nil {
		ts = []store.TriggerToken{}
	}
	return ts, err
}

// deleteTrigger revokes one of the project's trigger tokens.
func (s *Server) deleteTrigger(r *http.Request) (any, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListTriggerTokens(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ts, func(t store.TriggerToken) bool { return t.ID == id })
	if i < 0 {
		return nil, &httpError{http.StatusNotFound, "project " + p.Name + " has no trigger " + r.PathValue("id")}
	}
	return ts[i], s.Store.DeleteTriggerToken(r.Context(), id)
}
