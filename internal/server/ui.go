package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
)

// webFS holds the UI's templates and static files: no build step, they
// ship inside the binary.
//
//go:embed web
var webFS embed.FS

// uiPages are the parsed page templates, each with the layout and the
// shared partials. routesUI parses them when the server starts, so a broken
// template is a failed start, not a broken page; the binary's other
// commands do not pay for it.
var uiPages = sync.OnceValue(parseUIPages)

func parseUIPages() map[string]*template.Template {
	names, err := fs.Glob(webFS, "web/templates/page_*.html")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("ui templates: %v (%d pages)", err, len(names)))
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		t := template.Must(template.New("").Funcs(uiFuncs).ParseFS(webFS,
			"web/templates/layout.html", "web/templates/partials.html", name))
		key := strings.TrimSuffix(strings.TrimPrefix(name, "web/templates/page_"), ".html")
		pages[key] = t
	}
	return pages
}

// uiCSP allows only the server's own scripts and styles: a name that
// slipped through escaping could still not run script.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// routesUI adds the web UI's pages, their live fragments and the form
// handlers behind their buttons.
func (s *Server) routesUI(mux *http.ServeMux) {
	uiPages() // parsed when the server starts, not when any other command of the binary does
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	mux.HandleFunc("GET /{$}", s.uiProjects)
	mux.HandleFunc("GET /projects/{project}", s.uiProject)
	mux.HandleFunc("GET /pipelines/{id}", s.uiPipeline)
	mux.HandleFunc("GET /pipelines/{id}/live", s.uiPipelineLive)
	mux.HandleFunc("GET /jobs/{id}", s.uiJob)
	mux.HandleFunc("GET /jobs/{id}/head", s.uiJobHead)
	mux.HandleFunc("GET /environments", s.uiEnvironments)
	mux.HandleFunc("GET /environments/{id}", s.uiEnvironment)
	mux.HandleFunc("GET /gitops", s.uiGitops)
	mux.HandleFunc("GET /gitops/live", s.uiGitopsLive)

	mux.HandleFunc("GET /ui/login", s.uiLoginForm)
	csrf := http.NewCrossOriginProtection()
	post := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, csrf.Handler(h)) }
	post("POST /ui/login", s.uiLogin)
	post("POST /ui/logout", s.uiLogout)
	post("POST /ui/projects/{project}/pipelines", s.uiRunPipeline)
	post("POST /ui/projects/{project}/schedules/{id}/{action}", s.uiScheduleAction)
	post("POST /ui/pipelines/{id}/cancel", s.uiCancel)
	post("POST /ui/jobs/{id}/retry", s.uiRetry)
	post("POST /ui/jobs/{id}/play", s.uiPlay)
	post("POST /ui/environments/{id}/stop", s.uiStopEnvironment)
	post("POST /ui/gitops/{deployment}/reconcile", s.uiReconcileGitops)
	post("POST /ui/gitops/images/{update}/run", s.uiRunImageUpdate)
}

// uiPage is what every page's layout reads.
type uiPage struct {
	Title string
	// Nav marks the current section in the header.
	Nav string
	// CanAct: the visitor may press buttons that change things (no API
	// token is configured, or they signed in with it).
	CanAct bool
	// SignIn: an API token is configured and the visitor has not given it.
	SignIn bool
	// SignOut: the visitor acts through a UI session they can end.
	SignOut bool
	// GitOps: the server runs GitOps; the header links its page.
	GitOps bool
	Path   string
	Data   any
}

// render writes a whole page (tmpl "layout") or one fragment of it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page, tmpl, title, nav string, data any) {
	t, ok := uiPages()[page]
	if !ok {
		s.log.Error("ui: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	signedIn := s.uiSignedIn(r)
	can := signedIn || s.authorized(r)
	p := uiPage{Title: title, Nav: nav, CanAct: can, SignIn: !can, SignOut: signedIn, GitOps: s.gitops != nil, Path: r.URL.RequestURI(), Data: data}
	// Rendered whole before writing, so a template error is a clean 500.
	var buf bytes.Buffer
	var v any = p
	if tmpl != "layout" {
		v = data // a fragment reads its own data
	}
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		s.log.Error("ui: rendering", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	s.forgetLegacyTokenCookie(w, r)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// uiError shows an error page: 404 for what does not exist, the status of
// an httpError, 500 (logged) for the rest.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		s.log.Error("ui", "path", r.URL.Path, "err", err)
		msg = "Something went wrong on the server; its log says what."
	}
	if code == http.StatusNotFound {
		msg = "There is nothing at this address: it may have been deleted, or the link is wrong."
	}
	s.render(w, r, code, "error", "layout", http.StatusText(code), "", map[string]any{"Code": code, "Message": msg})
}

// uiID reads a numeric path value; a non-number is a page that does not
// exist.
func uiID(r *http.Request, name string) (int64, error) {
	id, err := pathID(r, name)
	if err != nil {
		return 0, &httpError{http.StatusNotFound, err.Error()}
	}
	return id, nil
}

var uiFuncs = template.FuncMap{
	"ago":      ago,
	"abstime":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur":      humanDuration,
	"short":    shortSHA,
	"since":    func(t *time.Time, end *time.Time) time.Duration { return span(t, end) },
	"webURL":   webURL,
	"statuses": func() []store.Status { return uiStatuses },
}

var uiStatuses = []store.Status{store.Created, store.Pending, store.Running, store.Success,
	store.Failed, store.Canceled, store.Skipped, store.Manual}

// ago says how long ago t was, as people read it on a dashboard.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return ""
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02")
}

// humanDuration rounds a duration for reading: <0.1s, 0.4s, 12s, 3m 05s, 1h 02m.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < 100*time.Millisecond:
		return "<0.1s"
	case d < time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

// span is from start to end, or to now while it runs.
func span(start, end *time.Time) time.Duration {
	if start == nil {
		return 0
	}
	if end == nil {
		return time.Since(*start)
	}
	return end.Sub(*start)
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// webURL keeps only http(s) links, so a stored URL never becomes a
// javascript: or data: link.
func webURL(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return ""
}
