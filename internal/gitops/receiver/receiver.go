package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway-cd/slipway/internal/scm/webhook"
)

// PathPrefix starts every receiver's endpoint.
const PathPrefix = "/hook/"

// HeaderSignature signs generic-hmac calls: sha256=<hex HMAC-SHA256 of
// the body>, as Flux's generic-hmac receiver reads it.
const HeaderSignature = "X-Signature"

// MinSecretBytes is the shortest secret taken: for a generic receiver the
// path made from it is all that keeps strangers out.
const MinSecretBytes = 16

// Options configure a Handler.
type Options struct {
	// File is the config file: file: secrets are relative to its folder.
	File string
	// Getenv reads env: secrets; os.Getenv when nil.
	Getenv func(string) string
	// Reconcile asks for an immediate pass of a deployment; it must not
	// wait for the pass (gitops.Controller.Reconcile).
	Reconcile func(deployment string) error
	// MaxBodyBytes bounds the body read before the signature check;
	// webhook.DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the receivers' endpoints under PathPrefix.
type Handler struct {
	opts   Options
	log    *slog.Logger
	routes map[string]*route // by path
}

type route struct {
	Receiver
	secret []byte
}

// New reads the receivers' secrets (a missing or short one is an error
// naming its field) and builds their endpoints.
func New(recvs []Receiver, opts Options) (*Handler, error) {
	if opts.Reconcile == nil {
		return nil, errors.New("receiver: Reconcile is required")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = webhook.DefaultMaxBodyBytes
	}
	h := &Handler{opts: opts, log: opts.Logger, routes: map[string]*route{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	for _, r := range recvs {
		secret, err := readSecret(r.SecretRef, opts.File, opts.Getenv)
		if err != nil {
			at := r.at
			at.Msg = err.Error()
			return nil, &at
		}
		h.routes[Path(r.Name, secret)] = &route{Receiver: r, secret: secret}
	}
	return h, nil
}

// Path is the endpoint of the receiver named name with secret, as Flux
// makes its webhook paths: unguessable without the secret.
func Path(name string, secret []byte) string {
	sum := sha256.Sum256(append(append([]byte{}, secret...), name...))
	return PathPrefix + hex.EncodeToString(sum[:])
}

// Paths are the receivers' endpoints by name, for their operator: the path
// of a generic receiver is its only credential, so it is never logged.
func (h *Handler) Paths() map[string]string {
	out := map[string]string{}
	for p, r := range h.routes {
		out[r.Name] = p
	}
	return out
}

// readSecret reads env:NAME or file:PATH; the secret never appears in an
// error.
func readSecret(ref, configFile string, getenv func(string) string) ([]byte, error) {
	var secret string
	if name, ok := strings.CutPrefix(ref, "env:"); ok {
		secret = getenv(name)
		if secret == "" {
			return nil, fmt.Errorf("$%s is not set", name)
		}
	} else {
		p := strings.TrimPrefix(ref, "file:")
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(configFile), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	}
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("the secret has %d bytes: want at least %d", len(secret), MinSecretBytes)
	}
	return []byte(secret), nil
}

// answer is the JSON body of every answer.
type answer struct {
	Message     string   `json:"message"`
	Deployments []string `json:"deployments,omitempty"`
}

func reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// ServeHTTP checks a call to a receiver's endpoint and, when it is
// authentic and its event is one the receiver wants, asks for a pass of
// its deployments (202). A wrong or missing signature is 403, logged with
// the receiver's name and never the secret or the body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := h.routes[req.URL.Path]
	if r == nil {
		reply(w, http.StatusNotFound, answer{Message: "no such receiver"})
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, answer{Message: "receivers take POST"})
		return
	}
	log := h.log.With("receiver", r.Name, "type", r.Type, "remote", req.RemoteAddr)
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			log.Warn("gitops: receiver call refused: body too large", "limit", h.opts.MaxBodyBytes)
			reply(w, http.StatusRequestEntityTooLarge, answer{Message: fmt.Sprintf("body over %d bytes", h.opts.MaxBodyBytes)})
			return
		}
		reply(w, http.StatusBadRequest, answer{Message: "reading the body failed"})
		return
	}
	if err := verify(r, req.Header, body); err != nil {
		log.Warn("gitops: receiver call refused", "err", err)
		reply(w, http.StatusForbidden, answer{Message: "signature refused"})
		return
	}
	event := eventName(r.Type, req.Header)
	if r.Type == TypeGitHub && event == "ping" {
		reply(w, http.StatusOK, answer{Message: "pong"})
		return
	}
	if !wanted(r.Events, event) {
		log.Info("gitops: receiver call ignored: event not in its events", "event", event)
		reply(w, http.StatusOK, answer{Message: fmt.Sprintf("event %q ignored: the receiver wants %s", event, strings.Join(r.Events, ", "))})
		return
	}
	for _, d := range r.Deployments {
		if err := h.opts.Reconcile(d); err != nil {
			log.Error("gitops: receiver could not ask for a pass", "deployment", d, "err", err)
			reply(w, http.StatusInternalServerError, answer{Message: "deployment " + d + ": " + err.Error()})
			return
		}
	}
	log.Info("gitops: receiver asked for a pass", "event", event, "deployments", r.Deployments)
	reply(w, http.StatusAccepted, answer{Message: "reconciling", Deployments: r.Deployments})
}

// verify checks the call as the receiver's forge signs it; a generic
// receiver has only its path to check, done already.
func verify(r *route, h http.Header, body []byte) error {
	switch r.Type {
	case TypeGitHub:
		return webhook.Verify(webhook.GitHub, h, body, r.secret)
	case TypeGitLab:
		return webhook.Verify(webhook.GitLab, h, body, r.secret)
	case TypeGitea:
		return webhook.Verify(webhook.Gitea, h, body, r.secret)
	case TypeGenericHMAC:
		sig := h.Get(HeaderSignature)
		if sig == "" {
			return fmt.Errorf("missing %s", HeaderSignature)
		}
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return fmt.Errorf("%s does not start with sha256=", HeaderSignature)
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			return fmt.Errorf("%s is not hex", HeaderSignature)
		}
		if !hmac.Equal(got, webhook.Sign(r.secret, body)) {
			return fmt.Errorf("%s does not match the body", HeaderSignature)
		}
	}
	return nil
}

// eventName is the forge's name of the call's event, "" for generic ones.
func eventName(typ string, h http.Header) string {
	switch typ {
	case TypeGitHub:
		return h.Get("X-GitHub-Event")
	case TypeGitLab:
		return h.Get("X-Gitlab-Event")
	case TypeGitea:
		return h.Get("X-Gitea-Event")
	}
	return ""
}

// wanted tells whether event is one of events (all when none). GitLab's
// "Push Hook" and "Tag Push Hook" also match push and tag_push, so one
// spelling fits every forge.
func wanted(events []string, event string) bool {
	if len(events) == 0 {
		return true
	}
	for _, e := range events {
		if normalize(e) == normalize(event) {
			return true
		}
	}
	return false
}

func normalize(event string) string {
	e := strings.ToLower(strings.TrimSpace(event))
	e = strings.TrimSuffix(e, " hook")
	return strings.ReplaceAll(e, " ", "_")
}
