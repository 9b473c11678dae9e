// Package release plans and runs release trains: a manifest names the
// components of a release, the version of each and the order they build in
// (groups of components, each group after the previous one); every
// component's own pipeline runs with the release's variables, and a real
// (not dry) run tags each repository with its component's version.
package release

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Manifest is a release: its components and their build order.
type Manifest struct {
	File           string
	Name           string
	Version        string
	BuildTimestamp time.Time
	SCMHTTPURL     string
	SCMSSHURL      string
	Components     []Component
	// Groups are buildDependencies: each group builds after the previous
	// one, the components of one group side by side. Every component is in
	// exactly one group.
	Groups [][]string
}

// Component is one repository of the release at one version.
type Component struct {
	Name    string
	Version string
	// PullRequest is the source branch of a pull request to build instead
	// of the maintenance branch the version names.
	PullRequest string
	Pos         ci.Pos
}

// Component returns the component called name, nil if there is none.
func (m *Manifest) Component(name string) *Component {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i]
		}
	}
	return nil
}

// componentName keeps component names usable as the last part of a
// repository URL and as a folder name.
var componentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// timestampLayouts are the forms buildTimestamp may take: Maven's
// (2020-10-15T07:19:32+0000) and RFC 3339.
var timestampLayouts = []string{"2006-01-02T15:04:05Z0700", time.RFC3339}

// Load reads a manifest, JSON or YAML, and validates it. Every problem
// found is reported with its file, line and column (a ci.ErrorList).
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading release manifest: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a manifest already read; file names it in errors.
func Parse(file string, data []byte) (*Manifest, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ci.Error{Pos: ci.Pos{File: file}, Msg: "the release manifest is empty"}
		}
		// JSON is YAML: one parser reads both, and places the error.
		e := yamlsyntax.Locate(data, err)
		return nil, &ci.Error{Pos: ci.Pos{File: file, Line: e.Line, Col: e.Col}, Msg: "invalid JSON or YAML: " + e.Msg}
	}
	p := &parser{file: file}
	m := p.manifest(doc.Content[0])
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *ci.Error) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return nil, p.errs
	}
	return m, nil
}

// parser collects every problem of a manifest with its position.
type parser struct {
	file string
	errs ci.ErrorList
}

func (p *parser) pos(n *yaml.Node) ci.Pos {
	return ci.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &ci.Error{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping of known keys, each given once, and
// returns the value of each key.
func (p *parser) fields(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be an object", what)
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			p.errorf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.errorf(k, "%s: field %q is given twice", what, k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

// text is the string value of an optional scalar field, "" when absent.
func (p *parser) text(fields map[string]*yaml.Node, key, what string) string {
	n := fields[key]
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s: %s must be a string", what, key)
		return ""
	}
	if strings.TrimSpace(n.Value) == "" {
		p.errorf(n, "%s: %s is empty", what, key)
	}
	return n.Value
}

// required is text for a field that must be there.
func (p *parser) required(n *yaml.Node, fields map[string]*yaml.Node, key, what string) string {
	if fields[key] == nil {
		p.errorf(n, "%s: %s is required", what, key)
		return ""
	}
	return p.text(fields, key, what)
}

// version checks a semantic version; Maven's 1.18 and 4.1.32-SNAPSHOT are
// versions too.
func (p *parser) version(fields map[string]*yaml.Node, key, what, v string) {
	if v == "" {
		return
	}
	if _, err := semver.NewVersion(v); err != nil {
		p.errorf(fields[key], "%s: %s %q is not a semantic version (like 1.18.0 or 4.1.32-SNAPSHOT): %v", what, key, v, err)
	}
}

func (p *parser) manifest(root *yaml.Node) *Manifest {
	f := p.fields(root, "release manifest", "name", "version", "buildTimestamp", "scmHttpUrl", "scmSshUrl", "components", "buildDependencies")
	if f == nil {
		return nil
	}
	m := &Manifest{File: p.file}
	m.Name = p.required(root, f, "name", "release")
	m.Version = p.required(root, f, "version", "release")
	p.version(f, "version", "release", m.Version)
	m.SCMHTTPURL = p.text(f, "scmHttpUrl", "release")
	m.SCMSSHURL = p.text(f, "scmSshUrl", "release")
	if ts := p.text(f, "buildTimestamp", "release"); ts != "" {
		m.BuildTimestamp = parseTimestamp(ts)
		if m.BuildTimestamp.IsZero() {
			p.errorf(f["buildTimestamp"], "release: buildTimestamp %q: want a time like 2020-10-15T07:19:32+0000", ts)
		}
	}
	declared := map[string]*yaml.Node{}
	if n := p.list(root, f, "components"); n != nil {
		for _, cn := range n.Content {
			c, nameNode := p.component(cn)
			if c == nil {
				continue
			}
			if first := declared[c.Name]; first != nil {
				p.errorf(nameNode, "components: %q is declared twice (first at line %d)", c.Name, first.Line)
				continue
			}
			declared[c.Name] = nameNode
			m.Components = append(m.Components, *c)
		}
	}
	m.Groups = p.groups(root, f, declared)
	return m
}

// list is a required, non-empty sequence field.
func (p *parser) list(parent *yaml.Node, f map[string]*yaml.Node, key string) *yaml.Node {
	n := f[key]
	switch {
	case n == nil:
		p.errorf(parent, "release: %s is required", key)
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "release: %s must be a list", key)
	case len(n.Content) == 0:
		p.errorf(n, "release: %s is empty", key)
	default:
		return n
	}
	return nil
}

func (p *parser) component(n *yaml.Node) (*Component, *yaml.Node) {
	f := p.fields(n, "component", "name", "version", "pull-request")
	if f == nil {
		return nil, nil
	}
	c := &Component{Pos: p.pos(n)}
	c.Name = p.required(n, f, "name", "component")
	what := "component"
	if c.Name != "" {
		what = "component " + c.Name
		if !componentName.MatchString(c.Name) {
			p.errorf(f["name"], "component name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", c.Name)
		}
	}
	c.Version = p.required(n, f, "version", what)
	p.version(f, "version", what, c.Version)
	c.PullRequest = p.text(f, "pull-request", what)
	if pr := c.PullRequest; pr != "" && !validBranch(pr) {
		p.errorf(f["pull-request"], "%s: pull-request %q is not a valid branch name", what, pr)
	}
	if c.Name == "" {
		return nil, nil
	}
	return c, f["name"]
}

// validBranch rejects what git refuses in a branch name and what an
// option parser could mistake for a flag.
func validBranch(b string) bool {
	if strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.HasSuffix(b, ".") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	return !strings.ContainsFunc(b, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r)
	})
}

// groups reads buildDependencies: lists of declared component names, each
// component in exactly one of them.
func (p *parser) groups(root *yaml.Node, f map[string]*yaml.Node, declared map[string]*yaml.Node) [][]string {
	n := p.list(root, f, "buildDependencies")
	if n == nil {
		return nil
	}
	var groups [][]string
	inGroup := map[string]int{}
	for gi, gn := range n.Content {
		what := fmt.Sprintf("buildDependencies group %d", gi+1)
		if gn.Kind != yaml.SequenceNode || len(gn.Content) == 0 {
			p.errorf(gn, "%s must be a non-empty list of component names", what)
			continue
		}
		var group []string
		for _, cn := range gn.Content {
			name := cn.Value
			switch {
			case cn.Kind != yaml.ScalarNode:
				p.errorf(cn, "%s: want a component name", what)
			case declared[name] == nil:
				p.errorf(cn, "%s: unknown component %q (not in components)", what, name)
			case inGroup[name] != 0:
				p.errorf(cn, "%s: component %q is already in group %d", what, name, inGroup[name])
			default:
				inGroup[name] = gi + 1
				group = append(group, name)
			}
		}
		groups = append(groups, group)
	}
	for name, at := range declared {
		if inGroup[name] == 0 {
			p.errorf(at, "component %q is in no group of buildDependencies", name)
		}
	}
	return groups
}

func parseTimestamp(s string) time.Time {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
