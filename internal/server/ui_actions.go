package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/store"
)

// uiAuthorized applies the API's rule to the UI: with an API token
// configured, changes need it, as a Bearer header, or a session made by
// signing in with it (a browser form cannot send an Authorization header).
func (s *Server) uiAuthorized(r *http.Request) bool {
	return s.authorized(r) || s.uiSignedIn(r)
}

func (s *Server) uiLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", "layout", "Sign in", "", map[string]string{"Next": localPath(r.URL.Query().Get("next"))})
}

// uiLogin checks the API token from the sign-in form and starts a session:
// the browser gets the session's id, never the token.
func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	token := r.PostFormValue("token")
	if s.apiToken == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	addr, now := clientAddr(r), time.Now()
	if wait := s.signIns.retryAfter(addr, now); wait > 0 {
		s.signIns.refuse(w, wait)
		return
	}
	if !s.isAPIToken(token) {
		s.signIns.failed(addr, now)
		s.log.Warn("ui: sign-in with a wrong token", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", "layout", "Sign in", "",
			map[string]string{"Next": next, "Error": "That is not the server's API token."})
		return
	}
	id, err := s.createUISession(r.Context(), time.Now())
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.log.Info("ui: signed in", "remote", r.RemoteAddr)
	s.setUICookie(w, r, uiSessionCookie, id, int(uiSessionLifetime.Seconds()))
	s.forgetLegacyTokenCookie(w, r)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// uiLogout ends the session on the server, so that the cookie, wherever a
// copy of it is, no longer authorizes anything, and deletes the cookie.
func (s *Server) uiLogout(w http.ResponseWriter, r *http.Request) {
	had, err := s.endUISession(r)
	if err != nil {
		// The cookie stays: the session may still be live, and the
		// browser should not look signed out when it is not.
		s.uiError(w, r, err)
		return
	}
	if had {
		s.log.Info("ui: signed out", "remote", r.RemoteAddr)
	}
	s.setUICookie(w, r, uiSessionCookie, "", -1)
	s.forgetLegacyTokenCookie(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// localPath keeps a redirect target on this server: a path, never
// //host or a full URL. Browsers drop tabs and newlines from a Location
// and read a backslash as a slash, so a path with a control character,
// space or backslash may lead to another host too: it becomes "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") ||
		strings.ContainsFunc(p, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '\\' }) {
		return "/"
	}
	return p
}

// uiAct runs a button's handler when the visitor may change things, and
// sends them to sign in otherwise.
func (s *Server) uiAct(w http.ResponseWriter, r *http.Request, back string, do func() (string, error)) {
	if !s.uiAuthorized(r) {
		http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(back), http.StatusSeeOther)
		return
	}
	to, err := do()
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseVariables reads the run form's NAME=value lines.
func parseVariables(text string) (map[string]string, error) {
	vars := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !variableName.MatchString(name) {
			return nil, fmt.Errorf("variables, line %d: write NAME=value, with a name of letters, digits and _", i+1)
		}
		vars[name] = value
	}
	return vars, nil
}

// uiRunPipeline is the project page's "Run pipeline" form.
func (s *Server) uiRunPipeline(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	back := fmt.Sprintf("/projects/%d", p.ID)
	if !s.uiAuthorized(r) {
		http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(back), http.StatusSeeOther)
		return
	}
	ref := strings.TrimSpace(r.PostFormValue("ref"))
	if ref == "" {
		ref = p.DefaultBranch
	}
	tag := r.PostFormValue("tag") == "on"
	err = store.CheckRef("ref", ref)
	var vars map[string]string
	if err == nil {
		vars, err = parseVariables(r.PostFormValue("variables"))
	}
	if err == nil {
		var pipe store.Pipeline
		pipe, err = s.Pipes.Create(r.Context(), p, pipelines.Trigger{Source: store.SourceWeb, Ref: ref, Tag: tag, Variables: vars})
		if err == nil {
			http.Redirect(w, r, fmt.Sprintf("/pipelines/%d", pipe.ID), http.StatusSeeOther)
			return
		}
		if errors.Is(err, pipelines.ErrNoPipeline) {
			err = fmt.Errorf("no pipeline: no job of %s runs for %s (rules)", p.PipelineFile, ref)
		}
	}
	// The form comes back with the reason; the variables do not (their
	// values may be secrets, and pages never show values).
	d, _, perr := s.uiProjectPage(r.Context(), p, nil)
	if perr != nil {
		s.uiError(w, r, perr)
		return
	}
	d.RunRef, d.RunTag, d.RunError = ref, tag, err.Error()
	s.log.Info("ui: run refused", "project", p.Name, "ref", ref, "err", err)
	s.render(w, r, http.StatusUnprocessableEntity, "project", "layout", p.Name, "projects", d)
}

func (s *Server) uiCancel(w http.ResponseWriter, r *http.Request) {
	id, err := uiID(r, "id")
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	back := fmt.Sprintf("/pipelines/%d", id)
	s.uiAct(w, r, back, func() (string, error) {
		_, _, err := s.cancel(r.Context(), id)
		return back, err
	})
}

func (s *Server) uiRetry(w http.ResponseWriter, r *http.Request) { s.uiResume(w, r, s.Pipes.Retry) }

func (s *Server) uiPlay(w http.ResponseWriter, r *http.Request) { s.uiResume(w, r, s.Pipes.Play) }

// uiResume retries or plays a job, then shows the attempt that runs: its
// job page, or its pipeline's page when the button was on that page.
func (s *Server) uiResume(w http.ResponseWriter, r *http.Request, do func(context.Context, int64) error) {
	id, err := uiID(r, "id")
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.uiAct(w, r, jobURL(id), func() (string, error) {
		ctx := r.Context()
		job, err := s.Store.GetJob(ctx, id)
		if err != nil {
			return "", err
		}
		if err := do(ctx, id); err != nil {
			if errors.Is(err, pipelines.ErrConflict) {
				return "", &httpError{http.StatusConflict, err.Error()}
			}
			return "", err
		}
		if r.PostFormValue("return") == "pipeline" {
			return fmt.Sprintf("/pipelines/%d", job.PipelineID), nil
		}
		all, err := s.Store.ListJobs(ctx, job.PipelineID)
		if err != nil {
			return "", err
		}
		for _, j := range pipelines.Latest(all) {
			if j.Name == job.Name {
				return jobURL(j.ID), nil
			}
		}
		return jobURL(id), nil
	})
}

// uiStopEnvironment stops an environment (its on_stop job runs).
func (s *Server) uiStopEnvironment(w http.ResponseWriter, r *http.Request) {
	id, err := uiID(r, "id")
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	s.uiAct(w, r, "/environments", func() (string, error) {
		if s.Envs == nil {
			return "", &httpError{http.StatusConflict, "this server does not run environments"}
		}
		e, err := s.Store.GetEnvironment(r.Context(), id)
		if err != nil {
			return "", err
		}
		return "/environments", s.Envs.Stop(context.WithoutCancel(r.Context()), e)
	})
}
