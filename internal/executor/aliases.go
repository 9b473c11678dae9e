package executor

import (
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
)

// ServiceAliases returns the host names a service answers to on the job's
// network: its `alias:` (GitLab allows several, separated by commas or
// spaces) and the two names GitLab derives from the image, which are the
// image's path without registry, tag or digest with each '/' turned into
// "__" and into "-" (`registry.example.com/a/b:1` → `a__b`, `a-b`).
func ServiceAliases(s ci.Service) []string {
	var out []string
	add := func(a string) {
		for _, have := range out {
			if have == a {
				return
			}
		}
		out = append(out, a)
	}
	for _, a := range strings.FieldsFunc(s.Alias, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		add(a)
	}
	if p := imagePath(s.Name); p != "" {
		add(strings.ReplaceAll(p, "/", "__"))
		add(strings.ReplaceAll(p, "/", "-"))
	}
	return out
}

// imagePath is an image reference without its registry host, tag and
// digest. The first component is a registry host, as Docker decides, when
// it has a '.' or a ':' or is "localhost", and more components follow.
func imagePath(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref = rest
	}
	return ref
}
