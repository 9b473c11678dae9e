package imageupdate

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
)

// Change is one value a marker asked for and got.
type Change struct {
	// File is the path from the repository's root, with "/".
	File string
	Line int
	// Marker is the policy reference as written: app, app:tag…
	Marker   string
	Old, New string
}

// markerKey is what makes a line a candidate; marker is the exact syntax.
const markerKey = "$imagepolicy"

var marker = regexp.MustCompile(`#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}`)

// parts a marker may ask for after "NAME:"; "" is the whole reference.
var parts = []string{"tag", "name", "digest"}

// Rewrite sets the value before each marker of content to what the
// marker's policy selected, and leaves every other byte as it was: line
// endings, indentation, quotes and comments included. A marker is a
// comment at the end of a line:
//
//	image: reg/app:1.0.0 # {"$imagepolicy": "app"}         reg/app:1.2.0 (or …@sha256:… with pinDigest)
//	tag: "1.0.0"         # {"$imagepolicy": "app:tag"}     1.2.0
//	repo: reg/app        # {"$imagepolicy": "app:name"}    reg/app
//	digest: sha256:…     # {"$imagepolicy": "app:digest"}  the digest
//
// The value is the last word before the comment (after a last "=" in it,
// for KEY=VALUE files), or the quoted string that ends there. file names
// content in errors, which carry its line and column.
func Rewrite(file string, content []byte, results map[string]imagepolicy.Result) ([]byte, []Change, error) {
	if !bytes.Contains(content, []byte(markerKey)) {
		return content, nil, nil
	}
	var out bytes.Buffer
	var changes []Change
	var errs []error
	for i, line := range bytes.SplitAfter(content, []byte("\n")) {
		n := i + 1
		at := func(off int, format string, args ...any) {
			col := utf8.RuneCount(line[:off]) + 1
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s", file, n, col, fmt.Sprintf(format, args...)))
		}
		// Only a comment can hold a marker: prose that mentions the key is
		// left alone.
		k := bytes.Index(line, []byte(markerKey))
		if k < 0 || bytes.IndexByte(line[:k], '#') < 0 {
			out.Write(line)
			continue
		}
		m := marker.FindSubmatchIndex(line)
		if m == nil {
			at(k, `malformed image policy marker: want # {"$imagepolicy": "NAME"} (or NAME:tag, NAME:name, NAME:digest)`)
			out.Write(line)
			continue
		}
		ref := string(line[m[2]:m[3]])
		policy, part, err := parseRef(ref, results)
		if err != nil {
			at(m[2], "image policy marker %q: %v", ref, err)
			out.Write(line)
			continue
		}
		res := results[policy]
		start, end, ok := valueSpan(line[:m[0]])
		if !ok {
			at(m[0], "image policy marker %q: no value before it to update", ref)
			out.Write(line)
			continue
		}
		old, want := string(line[start:end]), value(res, part)
		if old != want {
			changes = append(changes, Change{File: file, Line: n, Marker: ref, Old: old, New: want})
		}
		out.Write(line[:start])
		out.WriteString(want)
		out.Write(line[end:])
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return out.Bytes(), changes, nil
}

// parseRef reads a marker's reference: NAME or NAME:PART, and Flux's
// NAMESPACE:NAME and NAMESPACE:NAME:PART, whose namespace is left out
// (Slipway's policies have none): flux-system:app is the policy app.
func parseRef(ref string, results map[string]imagepolicy.Result) (policy, part string, err error) {
	fields := strings.Split(ref, ":")
	switch {
	case len(fields) == 1:
		policy = fields[0]
	case len(fields) == 2 && (slices.Contains(parts, fields[1]) || fields[1] == "" || hasPolicy(results, fields[0]) && !hasPolicy(results, fields[1])):
		policy, part = fields[0], fields[1]
	case len(fields) == 2:
		policy = fields[1] // Flux's namespace:name
	case len(fields) == 3:
		policy, part = fields[1], fields[2]
	default:
		return "", "", errors.New(`want NAME, NAME:PART or Flux's NAMESPACE:NAME[:PART]`)
	}
	if part != "" || strings.HasSuffix(ref, ":") {
		if !slices.Contains(parts, part) {
			return "", "", fmt.Errorf("unknown part %q (want tag, name or digest)", part)
		}
	}
	if !hasPolicy(results, policy) {
		return "", "", fmt.Errorf("no image policy named %q (known: %s)", policy, known(results))
	}
	return policy, part, nil
}

func hasPolicy(results map[string]imagepolicy.Result, name string) bool {
	_, ok := results[name]
	return ok
}

// valueSpan finds the value that ends before a marker starting after
// prefix: a quoted string (which may be empty), or the last word.
func valueSpan(prefix []byte) (start, end int, ok bool) {
	end = len(bytes.TrimRight(prefix, " \t"))
	if end == 0 {
		return 0, 0, false
	}
	if q := prefix[end-1]; q == '"' || q == '\'' {
		if open := bytes.LastIndexByte(prefix[:end-1], q); open >= 0 {
			return open + 1, end - 1, true
		}
	}
	start = bytes.LastIndexAny(prefix[:end], " \t=") + 1
	return start, end, start < end
}

// value is what a marker asking for part gets.
func value(r imagepolicy.Result, part string) string {
	switch part {
	case "tag":
		return r.Tag
	case "name":
		return r.Image
	case "digest":
		return r.Digest
	}
	return r.Ref()
}

func known(results map[string]imagepolicy.Result) string {
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
