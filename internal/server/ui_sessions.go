package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
)

// uiSessionCookie holds a UI session's id: 256 random bits that mean
// nothing without the server's session row. Signing out deletes the row,
// so a copied cookie stops working; the API token itself never leaves the
// sign-in form.
const uiSessionCookie = "slipway_session"

// legacyTokenCookie is where an older Slipway kept the API token itself.
// It authorizes nothing now; pages delete it from the browsers that still
// send it, so the token stops travelling with every request.
const legacyTokenCookie = "slipway_token"

const (
	// uiSessionLifetime is a session's absolute end, however active.
	uiSessionLifetime = 30 * 24 * time.Hour
	// defaultUISessionIdle is ui_session_idle's default: a session not
	// used for this long has ended.
	defaultUISessionIdle = 7 * 24 * time.Hour
	// uiSessionTouchEvery limits last-seen writes to one a minute per
	// session: a live page asks often, and the idle timeout is days.
	uiSessionTouchEvery = time.Minute
)

// uiSessionIDLen is the length of a session id in bytes: 256 bits.
const uiSessionIDLen = 32

// uiSessionHash is the key a session id is stored under: its SHA-256, so
// that reading the database gives no cookie that works.
func uiSessionHash(id []byte) string {
	sum := sha256.Sum256(id)
	return hex.EncodeToString(sum[:])
}

// uiSessionMAC ties a session to the API token it was made under: an HMAC
// of the id keyed with the token. A server with another token computes
// another MAC and refuses the session. The stored MAC cannot be checked
// without the id, which the database does not hold, so it does not let a
// reader of the database guess the token offline.
func uiSessionMAC(token string, id []byte) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("slipway ui session\x00"))
	m.Write(id)
	return hex.EncodeToString(m.Sum(nil))
}

// createUISession makes a session that started at now, stores it and
// returns the id for the cookie. The start is a parameter so that tests
// can make sessions that are old already.
func (s *Server) createUISession(ctx context.Context, now time.Time) (string, error) {
	id := make([]byte, uiSessionIDLen)
	rand.Read(id) // never fails (crypto/rand)
	err := s.Store.CreateUISession(ctx, store.UISession{
		IDHash: uiSessionHash(id), TokenMAC: uiSessionMAC(s.apiToken, id),
		CreatedAt: now, ExpiresAt: now.Add(uiSessionLifetime), LastSeenAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("ui session: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(id), nil
}

// uiSessionID reads the session id from the request's cookie; nil when
// there is none or it is not one this server could have made.
func uiSessionID(r *http.Request) []byte {
	c, err := r.Cookie(uiSessionCookie)
	if err != nil {
		return nil
	}
	id, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(id) != uiSessionIDLen {
		return nil
	}
	return id
}

// uiSignedIn says whether the request carries a live session made under
// this server's API token. A session that has ended (absolute expiry,
// idle timeout, another token) is deleted when it is found, and refused;
// a store failure refuses too.
func (s *Server) uiSignedIn(r *http.Request) bool {
	id := uiSessionID(r)
	if s.apiToken == "" || id == nil {
		return false
	}
	ctx := r.Context()
	hash := uiSessionHash(id)
	sess, err := s.Store.UISession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		s.log.Error("ui: looking up a session", "err", err)
		return false
	}
	now := time.Now()
	ended := ""
	switch {
	case !hmac.Equal([]byte(sess.TokenMAC), []byte(uiSessionMAC(s.apiToken, id))):
		ended = "made under another API token"
	case !now.Before(sess.ExpiresAt):
		ended = "expired"
	case !now.Before(sess.LastSeenAt.Add(s.cfg.UISessionIdle)):
		ended = "idle for longer than ui_session_idle"
	}
	if ended != "" {
		s.log.Info("ui: session refused and deleted", "reason", ended, "created", sess.CreatedAt, "remote", r.RemoteAddr)
		if err := s.Store.DeleteUISession(context.WithoutCancel(ctx), hash); err != nil {
			s.log.Error("ui: deleting an ended session", "err", err)
		}
		return false
	}
	if now.Sub(sess.LastSeenAt) >= uiSessionTouchEvery {
		if err := s.Store.TouchUISession(ctx, hash, now); err != nil {
			s.log.Error("ui: recording a session's use", "err", err)
		}
	}
	return true
}

// endUISession deletes the request's session, if any, and returns whether
// there was a cookie for one.
func (s *Server) endUISession(r *http.Request) (bool, error) {
	id := uiSessionID(r)
	if id == nil {
		return false, nil
	}
	if err := s.Store.DeleteUISession(context.WithoutCancel(r.Context()), uiSessionHash(id)); err != nil {
		return true, fmt.Errorf("signing out: %w", err)
	}
	return true, nil
}

// expireUISessions deletes the sessions past their absolute end or idle
// for too long: the browsers that never come back to be refused. Level
// based: it looks at the rows as they are, on any server, at any time.
func (s *Server) expireUISessions(ctx context.Context) {
	now := time.Now()
	n, err := s.Store.DeleteExpiredUISessions(ctx, now, now.Add(-s.cfg.UISessionIdle))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("expiring ui sessions", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Info("expired ui sessions removed", "sessions", n)
	}
}

// setUICookie sets (value, maxAge > 0) or deletes (maxAge < 0) a UI
// cookie: HttpOnly, SameSite=Strict, for the whole site, and Secure when
// people reach the server over HTTPS.
func (s *Server) setUICookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.cfg.BaseURL, "https:")})
}

// forgetLegacyTokenCookie deletes an older Slipway's token cookie from a
// browser that still sends it.
func (s *Server) forgetLegacyTokenCookie(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(legacyTokenCookie); err == nil {
		s.setUICookie(w, r, legacyTokenCookie, "", -1)
	}
}
