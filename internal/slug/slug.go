// Package slug turns names chosen by users (branches, tags, environments)
// into the slugs GitLab exposes as CI_COMMIT_REF_SLUG and
// CI_ENVIRONMENT_SLUG. Hostnames, container names and paths use only these.
package slug

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
)

// RefMaxLen is the longest ref slug: a DNS label.
const RefMaxLen = 63

// Ref returns the slug of a branch or tag name (CI_COMMIT_REF_SLUG) exactly
// as GitLab's Gitlab::Utils.slugify computes it: lower-cased, each
// character outside 0-9a-z replaced by its own "-" (a__b gives a--b), cut
// to 63 bytes, without a leading or trailing "-". The result matches
// ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ or is empty when s has no letter or digit.
func Ref(s string) string {
	b := dashed(strings.ToLower(s))
	if len(b) > RefMaxLen {
		b = b[:RefMaxLen]
	}
	return strings.Trim(b, "-")
}

// Label returns the name Slipway gives things made for s (hostnames,
// container and volume names, folders): as Ref, but every run of "-" is
// folded into one before the cut, so that "--" can separate a route id's
// parts and names stay readable (feature/a__b gives feature-a-b).
func Label(s string) string {
	b := squeezeDashes(dashed(strings.ToLower(s)))
	if len(b) > RefMaxLen {
		b = b[:RefMaxLen]
	}
	return strings.Trim(b, "-")
}

// EnvironmentMaxLen is the longest environment slug (an OpenShift limit).
const EnvironmentMaxLen = 24

// Environment returns the slug of an environment name (CI_ENVIRONMENT_SLUG),
// computed as GitLab's Gitlab::Slug::Environment does: lower-cased, every
// character outside a-z0-9 replaced by "-", "env-" in front unless it starts
// with a letter, runs of "-" folded, at most 24 characters. When the slug is
// not the name itself, it is cut to 17 characters and a "-" and six
// characters derived from the name's SHA-256 are appended, so two names that
// slugify alike still get distinct slugs.
func Environment(name string) string {
	s := dashed(strings.ToLower(name))
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "env-" + s
	}
	s = squeezeDashes(s)
	if len(s) > EnvironmentMaxLen || s != name {
		s = s[:min(len(s), 17)]
		if !strings.HasSuffix(s, "-") {
			s += "-"
		}
		sum := sha256.Sum256([]byte(name))
		return s + suffix(hex.EncodeToString(sum[:]))
	}
	return strings.TrimSuffix(s, "-")
}

// suffix is GitLab's hexdigest.to_i(16).to_s(36).last(6).
func suffix(hexDigest string) string {
	n, _ := new(big.Int).SetString(hexDigest, 16)
	s := n.Text(36)
	return s[max(0, len(s)-6):]
}

// dashed replaces every character outside a-z0-9 by "-". Invalid UTF-8
// counts as such characters.
func dashed(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func squeezeDashes(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return s
}
