package proxy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Match narrows a route to some requests of its hosts: a path and
// headers, all of which must match. Routes of the same hosts may differ by
// their matches (A/B tests by header or cookie, Gateway API HTTPRoute
// rules); the proxy tries the more specific first (Precedes).
type Match struct {
	// Path is the path to match, "" for any.
	Path string
	// PathPrefix matches Path and the paths under it ("/api" matches
	// /api and /api/v1, not /apix); otherwise Path matches exactly.
	PathPrefix bool
	// Headers must all match.
	Headers []HeaderMatch
}

// HeaderMatch matches one request header.
type HeaderMatch struct {
	Name  string
	Value string
	// Regex makes Value a regular expression (Go's RE2) the header must
	// match somewhere, e.g. `(^|;\s*)variant=b(;|$)` on Cookie.
	Regex bool
}

// IsZero reports whether the match takes every request.
func (m *Match) IsZero() bool {
	return m == nil || (m.Path == "" || m.Path == "/" && m.PathPrefix) && len(m.Headers) == 0
}

// Equal reports whether the matches take the same requests as written.
func (m *Match) Equal(o *Match) bool {
	if m.IsZero() || o.IsZero() {
		return m.IsZero() && o.IsZero()
	}
	return m.Path == o.Path && m.PathPrefix == o.PathPrefix && slices.Equal(m.Headers, o.Headers)
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)

// Validate names the bad part of the match.
func (m *Match) Validate() error {
	if m == nil {
		return nil
	}
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		return fmt.Errorf("match.path %q: want an absolute path", m.Path)
	}
	if strings.ContainsAny(m.Path, "*{}") {
		return fmt.Errorf("match.path %q: '*', '{' and '}' are not allowed", m.Path)
	}
	for i, h := range m.Headers {
		if !headerName.MatchString(h.Name) {
			return fmt.Errorf("match.headers[%d].name %q: not a header name", i, h.Name)
		}
		if h.Regex {
			if _, err := regexp.Compile(h.Value); err != nil {
				return fmt.Errorf("match.headers[%d].value: %w", i, err)
			}
		}
	}
	return nil
}

// Precedes reports whether route a must be tried before b: a route with
// a match before one without, an exact path before a prefix, a longer
// path before a shorter one, more headers before fewer, then by ID. This
// is the Gateway API's order of HTTPRoute matches.
func Precedes(a, b Route) bool {
	ma, mb := a.Match, b.Match
	if ma.IsZero() != mb.IsZero() {
		return !ma.IsZero()
	}
	if !ma.IsZero() {
		if ea, eb := ma.Path != "" && !ma.PathPrefix, mb.Path != "" && !mb.PathPrefix; ea != eb {
			return ea
		}
		if len(ma.Path) != len(mb.Path) {
			return len(ma.Path) > len(mb.Path)
		}
		if len(ma.Headers) != len(mb.Headers) {
			return len(ma.Headers) > len(mb.Headers)
		}
	}
	return a.ID < b.ID
}
