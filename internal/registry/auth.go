package registry

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Access is what a principal may do in a repository. Push includes pull and delete.
type Access int

// The access levels, weakest first.
const (
	AccessNone Access = iota
	AccessPull
	AccessPush
)

func (a Access) String() string {
	switch a {
	case AccessPull:
		return "pull"
	case AccessPush:
		return "push"
	}
	return "none"
}

// TokenSource finds the project token a secret belongs to. The token file
// (LoadTokenFile) is one; Slipway's server can be another, backed by its store.
type TokenSource interface {
	LookupToken(secret string) (Token, bool)
}

// Auth authenticates registry requests. Users from an htpasswd file may do
// everything (they administer the registry); project tokens may pull or
// push only in the repositories their globs match.
type Auth struct {
	// Users maps a user name to its bcrypt hash (from an htpasswd file).
	Users map[string][]byte
	// Tokens resolves project tokens; nil means no tokens.
	Tokens TokenSource
	// Realm is shown in the WWW-Authenticate challenge.
	Realm string
	// Admin, when set, says whether a password (whatever the user name)
	// may do everything too: Slipway's server takes its API token.
	Admin func(password string) bool
	// AnonymousPull lets requests without credentials read; writes still
	// need them.
	AnonymousPull bool

	verified sync.Map // user + sha256(password) of passwords bcrypt already accepted

	dummyOnce sync.Once
	dummy     []byte
}

// LoadHtpasswd reads an htpasswd file whose entries are bcrypt hashes
// (htpasswd -B). Other hash kinds are refused: they are too weak to accept.
func LoadHtpasswd(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d:1: want user:bcrypt-hash", path, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d:%d: user %q: not a bcrypt hash (create it with htpasswd -B): %w", path, line, len(user)+2, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	return users, nil
}

// principal is who a request comes from.
type principal struct {
	admin bool
	// anonymous is a caller without credentials where AnonymousPull is on.
	anonymous bool
	token     Token
}

func (p principal) may(repo string, want Access) bool {
	if p.admin || p.anonymous && want == AccessPull {
		return true
	}
	return p.token.Allows(repo) >= want
}

func (a *Auth) identify(req *http.Request) (principal, bool) {
	h := req.Header.Get("Authorization")
	if secret, ok := strings.CutPrefix(h, "Bearer "); ok {
		if a.Tokens == nil {
			return principal{}, false
		}
		t, ok := a.Tokens.LookupToken(secret)
		return principal{token: t}, ok
	}
	user, pass, ok := req.BasicAuth()
	if !ok {
		return principal{}, false
	}
	// A token goes in the password, whatever the user name, as docker login
	// sends it. Looked up first: a job's push makes dozens of requests,
	// which should not each pay bcrypt for a user that does not exist.
	if a.Tokens != nil {
		if t, ok := a.Tokens.LookupToken(pass); ok {
			return principal{token: t}, true
		}
	}
	if a.Admin != nil && a.Admin(pass) {
		return principal{admin: true}, true
	}
	if len(a.Users) == 0 {
		return principal{}, false
	}
	hash, known := a.Users[user]
	if !known {
		// The same bcrypt work as for a known user, so that the answer's
		// time does not tell which user names exist.
		hash = a.dummyHash()
	}
	return principal{admin: true}, a.checkPassword(user, pass, hash) && known
}

// dummyHash is a bcrypt hash of a random password, at the cost of the
// users' hashes, to compare unknown users against.
func (a *Auth) dummyHash() []byte {
	a.dummyOnce.Do(func() {
		cost := bcrypt.DefaultCost
		for _, h := range a.Users {
			if c, err := bcrypt.Cost(h); err == nil {
				cost = c
			}
			break
		}
		secret := make([]byte, 16)
		rand.Read(secret) // never fails (crypto/rand)
		a.dummy, _ = bcrypt.GenerateFromPassword(secret, cost)
	})
	return a.dummy
}

// compareHash is bcrypt's comparison; tests count its calls.
var compareHash = bcrypt.CompareHashAndPassword

// checkPassword remembers accepted passwords (by hash) because bcrypt costs
// tens of milliseconds and a docker push makes dozens of requests.
func (a *Auth) checkPassword(user, pass string, hash []byte) bool {
	sum := sha256.Sum256([]byte(pass))
	key := user + "\x00" + string(sum[:]) + "\x00" + string(hash)
	if _, ok := a.verified.Load(key); ok {
		return true
	}
	if compareHash(hash, []byte(pass)) != nil {
		return false
	}
	a.verified.Store(key, struct{}{})
	return true
}

// authorize answers 401 or 403 and returns false when the request may not
// proceed; else who makes it (an admin when the registry has no auth). It
// may strip a cross-repository mount the principal cannot read, which turns
// the request into a plain upload, as the spec allows.
func (r *Registry) authorize(w http.ResponseWriter, req *http.Request, rt route) (principal, bool) {
	a := r.auth
	if a == nil {
		return principal{admin: true}, true
	}
	p, ok := a.identify(req)
	// The base route still challenges: docker sends credentials only to
	// a registry whose /v2/ asked for them.
	if !ok && a.AnonymousPull && !isWrite(req.Method) && rt.kind != routeBase && req.Header.Get("Authorization") == "" {
		return principal{anonymous: true}, true
	}
	if !ok {
		realm := a.Realm
		if realm == "" {
			realm = "Slipway registry"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return p, false
	}
	want := AccessPull
	if isWrite(req.Method) {
		want = AccessPush
	}
	switch rt.kind {
	case routeBase, routeCatalog:
		// The catalog lists only what p may pull (catalog.go).
		return p, true
	case routeOther:
		if p.admin {
			return p, true
		}
	default:
		if p.may(rt.repo, want) {
			if rt.kind == routeUpload {
				stripUnreadableMount(req, p)
			}
			return p, true
		}
	}
	r.log.Info("registry access denied", "repository", rt.repo, "want", want.String(), "token", p.token.Name)
	writeError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("%s access to %q denied", want, rt.repo))
	return p, false
}

func stripUnreadableMount(req *http.Request, p principal) {
	q := req.URL.Query()
	from := q.Get("from")
	if q.Get("mount") == "" || from == "" || p.may(from, AccessPull) {
		return
	}
	q.Del("mount")
	q.Del("from")
	req.URL.RawQuery = q.Encode()
}

// writeError answers in the distribution spec's error format.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message}},
	})
}

// LoadAuth builds the registry's authentication from an htpasswd file of
// users and a token file, either optional; nil (everyone may do
// everything) when neither is given.
func LoadAuth(htpasswd, tokens string) (*Auth, error) {
	if htpasswd == "" && tokens == "" {
		return nil, nil
	}
	a := &Auth{}
	if htpasswd != "" {
		users, err := LoadHtpasswd(htpasswd)
		if err != nil {
			return nil, err
		}
		a.Users = users
	}
	if tokens != "" {
		tf, err := LoadTokenFile(tokens)
		if err != nil {
			return nil, err
		}
		a.Tokens = tf
	}
	return a, nil
}
