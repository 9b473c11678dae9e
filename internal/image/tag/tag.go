// Package tag renders image tag templates such as "{version}-nightly" or
// "{branch_slug}-{short_sha}-{unix_ts}" into Docker tags, and reads the
// version they use from a project's version file (version.go).
//
// Every rendered tag is checked against Docker's tag grammar, and branch
// names only ever reach a tag sanitised, so a template can never produce
// a reference the engine or a registry would refuse.
package tag

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/slug"
)

// MaxLen is the longest tag Docker accepts.
const MaxLen = 128

var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Valid reports why s is not a Docker tag, or nil when it is one.
func Valid(s string) error {
	if tagRe.MatchString(s) {
		return nil
	}
	if len(s) > MaxLen {
		return fmt.Errorf("tag %q is %d characters long; Docker allows at most %d", s, len(s), MaxLen)
	}
	return fmt.Errorf("tag %q is not a Docker tag: it must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", s)
}

// Vars are the values placeholders stand for. Empty fields are unknown:
// a template that needs one fails to render, naming where it could come from.
type Vars struct {
	Version    *Version  // from a version file
	Ref        string    // branch or tag name (CI_COMMIT_REF_NAME)
	SHA        string    // full commit SHA (CI_COMMIT_SHA)
	PipelineID string    // CI_PIPELINE_ID
	Time       time.Time // build time; {unix_ts} and {timestamp}
}

// placeholder renders one {name}.
type placeholder func(v Vars) (string, error)

var placeholders = map[string]placeholder{
	"version":     versionPart(func(v *Version) string { return v.Tag() }),
	"major":       versionPart(func(v *Version) string { return strconv.FormatUint(v.Semver.Major(), 10) }),
	"minor":       versionPart(func(v *Version) string { return strconv.FormatUint(v.Semver.Minor(), 10) }),
	"patch":       versionPart(func(v *Version) string { return strconv.FormatUint(v.Semver.Patch(), 10) }),
	"branch":      refPart(Sanitize),
	"branch_slug": refPart(slug.Label),
	"sha":         shaPart(40),
	"short_sha":   shaPart(7),
	"unix_ts":     timePart(func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }),
	"timestamp":   timePart(func(t time.Time) string { return t.UTC().Format("20060102150405") }),
	"pipeline_id": func(v Vars) (string, error) {
		if v.PipelineID == "" {
			return "", errors.New("no pipeline id is known (CI_PIPELINE_ID is not set)")
		}
		return v.PipelineID, nil
	},
}

// Placeholders lists the names a template may use, sorted.
func Placeholders() []string {
	names := make([]string, 0, len(placeholders))
	for n := range placeholders {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func versionPart(f func(*Version) string) placeholder {
	return func(v Vars) (string, error) {
		if v.Version == nil {
			return "", errors.New("no version is known (give a version file: pom.xml, package.json, VERSION, Chart.yaml, Cargo.toml...)")
		}
		return f(v.Version), nil
	}
}

func refPart(f func(string) string) placeholder {
	return func(v Vars) (string, error) {
		if v.Ref == "" {
			return "", errors.New("no branch is known (CI_COMMIT_REF_NAME is not set and HEAD is detached)")
		}
		s := f(v.Ref)
		if s == "" {
			return "", fmt.Errorf("branch %q has no letter or digit to put in a tag", v.Ref)
		}
		return s, nil
	}
}

func shaPart(n int) placeholder {
	return func(v Vars) (string, error) {
		if v.SHA == "" {
			return "", errors.New("no commit SHA is known (CI_COMMIT_SHA is not set and no git repository)")
		}
		if len(v.SHA) < n {
			return "", fmt.Errorf("commit SHA %q is shorter than %d characters", v.SHA, n)
		}
		return v.SHA[:n], nil
	}
}

func timePart(f func(time.Time) string) placeholder {
	return func(v Vars) (string, error) {
		if v.Time.IsZero() {
			return "", errors.New("no build time is set")
		}
		return f(v.Time), nil
	}
}

// Sanitize makes a branch name fit in a tag while keeping it readable:
// every run of characters outside [A-Za-z0-9_.-] becomes one "-", leading
// "." and "-" (which a tag cannot start with) and trailing "-" are dropped.
// Unlike slug.Label it keeps case, dots and underscores (feature/Foo_1.2 gives
// feature-Foo_1.2).
func Sanitize(ref string) string {
	var b strings.Builder
	dash := false
	for _, r := range ref {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' || r == '.' || r == '-' {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
		}
		dash = true
	}
	s := strings.TrimLeft(b.String(), ".-")
	if len(s) > MaxLen {
		s = s[:MaxLen]
	}
	return strings.TrimRight(s, "-")
}

// Template is a parsed tag template: literal text and {placeholders}.
type Template struct {
	src   string
	parts []part
}

type part struct {
	literal string
	name    string // a placeholder when not empty
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Parse reads a tag template. Unknown placeholders and unbalanced braces
// are errors naming the column (1-based, in bytes).
func Parse(src string) (*Template, error) {
	t := &Template{src: src}
	if src == "" {
		return nil, errors.New("tag template is empty")
	}
	rest, col := src, 1
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, part{literal: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{literal: rest[:open]})
		}
		col += open
		if rest[open] == '}' {
			return nil, fmt.Errorf("tag template %q: column %d: \"}\" without \"{\"", src, col)
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("tag template %q: column %d: \"{\" is never closed", src, col)
		}
		name := rest[open+1 : open+end]
		if _, ok := placeholders[name]; !ok {
			return nil, fmt.Errorf("tag template %q: column %d: unknown placeholder {%s} (known: {%s})",
				src, col, name, strings.Join(Placeholders(), "}, {"))
		}
		t.parts = append(t.parts, part{name: name})
		col += end + 1
		rest = rest[open+end+1:]
	}
	return t, nil
}

// Render fills the template with v and checks the result is a Docker tag.
func (t *Template) Render(v Vars) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.literal)
			continue
		}
		s, err := placeholders[p.name](v)
		if err != nil {
			return "", fmt.Errorf("tag template %q: {%s}: %w", t.src, p.name, err)
		}
		b.WriteString(s)
	}
	out := b.String()
	if err := Valid(out); err != nil {
		return "", fmt.Errorf("tag template %q: %w", t.src, err)
	}
	return out, nil
}

// Render parses and renders a template in one step.
func Render(src string, v Vars) (string, error) {
	t, err := Parse(src)
	if err != nil {
		return "", err
	}
	return t.Render(v)
}
