package ci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// LoadOptions says where included files are found.
type LoadOptions struct {
	// ProjectDir is the repository root: `include: local` paths are
	// relative to it. Default: the main file's folder.
	ProjectDir string
	// TemplateDir, when set, resolves `include: template` against a folder
	// of GitLab's CI templates.
	TemplateDir string
}

// maxIncludes is GitLab's default limit of included files per pipeline.
const maxIncludes = 150

// Load reads a pipeline file and everything it includes into a Config.
// Every problem found is reported, each with its position.
func Load(path string, opts LoadOptions) (*Config, error) {
	if opts.ProjectDir == "" {
		opts.ProjectDir = filepath.Dir(path)
	}
	name := displayPath(opts.ProjectDir, path)
	var data []byte
	var err error
	if name == path { // named outside the project: the user's own choice
		data, err = os.ReadFile(path)
	} else {
		data, err = readInside(opts.ProjectDir, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pipeline file: %w", err)
	}
	return LoadBytes(name, data, opts)
}

// readInside reads the file rel of dir; a symbolic link on the way that
// leads out of dir is an error, so that a committed link cannot make the
// server read its host's files.
func readInside(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(rel)
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" { // os does not export it
		return nil, &os.PathError{Op: "read", Path: rel, Err: errLinkOutside}
	}
	return data, err
}

var errLinkOutside = errors.New("a symbolic link leads out of the project folder")

// LoadBytes is Load for a file already read; name is used in positions.
func LoadBytes(name string, data []byte, opts LoadOptions) (*Config, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	if root.kind != mapNode {
		return nil, &Error{Pos: root.pos, Msg: "the pipeline file must be a hash of keywords and jobs, not " + root.kind.String()}
	}
	l := &loader{opts: opts, seen: map[string]bool{name: true}}
	merged := l.includes(root, 0)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	merged = l.references(merged, merged, 0)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	cfg := l.build(name, merged)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func displayPath(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

type loader struct {
	opts  LoadOptions
	seen  map[string]bool
	count int
	errs  errs
}

// includes merges the files root includes under root (root wins), depth
// first, as GitLab does.
func (l *loader) includes(root *node, depth int) *node {
	inc := root.get("include")
	if inc == nil {
		return root
	}
	if depth >= 100 {
		l.errs.add(inc.pos, "includes nested too deeply")
		return root
	}
	var entries []*node
	switch inc.kind {
	case seqNode:
		entries = inc.items
	case scalarNode, mapNode:
		entries = []*node{inc}
	default:
		l.errs.add(inc.pos, "include must be a string, a hash or an array")
		return root
	}
	var merged *node
	for _, e := range entries {
		for _, file := range l.includeFiles(e) {
			if l.count++; l.count > maxIncludes {
				l.errs.add(e.pos, fmt.Sprintf("more than %d included files", maxIncludes))
				return root
			}
			var data []byte
			var err error
			if file.template {
				data, err = os.ReadFile(filepath.Join(l.opts.TemplateDir, file.name))
			} else {
				data, err = readInside(l.opts.ProjectDir, file.name)
			}
			if err != nil {
				l.errs.add(e.pos, fmt.Sprintf("included file %s: %v", file.display(), errorsUnwrapPath(err)))
				continue
			}
			sub, err := parseYAML(file.display(), data)
			if err != nil {
				l.errs.addErr(err)
				continue
			}
			if sub.kind == nullNode {
				continue
			}
			if sub.kind != mapNode {
				l.errs.add(sub.pos, "an included file must be a hash of keywords and jobs")
				continue
			}
			sub = l.includes(sub, depth+1)
			merged = deepMerge(merged, sub.without("include"))
		}
	}
	return deepMerge(merged, root.without("include"))
}

func errorsUnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// includeFile is a local file (name relative to the project folder) or a
// template (name relative to the template folder).
type includeFile struct {
	name     string
	template bool
}

func (f includeFile) display() string {
	if f.template {
		return "template:" + f.name
	}
	return f.name
}

// includeFiles turns one include entry into the files it names.
func (l *loader) includeFiles(e *node) []includeFile {
	switch e.kind {
	case scalarNode:
		v := e.value
		if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
			l.errs.add(e.pos, "unsupported: include of a remote URL (no network access at load time); vendor the file and use include: local")
			return nil
		}
		return l.localFiles(e, v)
	case mapNode:
		// include:rules are not evaluated: the file is always included
		// (docs/ci-dialect.md says so).
		switch {
		case e.get("local") != nil:
			v := e.get("local")
			if v.kind != scalarNode {
				l.errs.add(v.pos, "include:local must be a string")
				return nil
			}
			return l.localFiles(v, v.value)
		case e.get("template") != nil:
			v := e.get("template")
			if l.opts.TemplateDir == "" {
				l.errs.add(v.pos, "unsupported: include:template (GitLab's templates are not bundled); copy the template into the repository and use include: local")
				return nil
			}
			name := filepath.Clean("/" + v.value)[1:]
			return []includeFile{{name: name, template: true}}
		case e.get("remote") != nil:
			l.errs.add(e.get("remote").pos, "unsupported: include:remote (no network access at load time); vendor the file and use include: local")
		case e.get("project") != nil:
			l.errs.add(e.get("project").pos, "unsupported: include:project (other projects are not reachable from a local checkout)")
		case e.get("component") != nil:
			l.errs.add(e.get("component").pos, "unsupported: include:component (CI/CD catalog components)")
		default:
			l.errs.add(e.pos, "include entry needs local, template, remote, project or component")
		}
		return nil
	}
	l.errs.add(e.pos, "include entry must be a string or a hash")
	return nil
}

// localFiles resolves a local include path, with globs, inside the project.
func (l *loader) localFiles(at *node, pattern string) []includeFile {
	rel := strings.TrimPrefix(filepath.ToSlash(pattern), "/")
	if strings.Contains("/"+rel+"/", "/../") {
		l.errs.add(at.pos, fmt.Sprintf("include:local %q leaves the project folder", pattern))
		return nil
	}
	if strings.ContainsAny(rel, "*?[{") {
		root, err := os.OpenRoot(l.opts.ProjectDir)
		if err != nil {
			l.errs.add(at.pos, fmt.Sprintf("include:local %q: %v", pattern, err))
			return nil
		}
		defer root.Close()
		matches, err := doublestar.Glob(root.FS(), rel)
		if err != nil {
			l.errs.add(at.pos, fmt.Sprintf("include:local %q: bad glob: %v", pattern, err))
			return nil
		}
		sort.Strings(matches)
		var out []includeFile
		for _, m := range matches {
			if strings.HasSuffix(m, ".yml") || strings.HasSuffix(m, ".yaml") {
				out = append(out, l.once(at, m)...)
			}
		}
		if len(out) == 0 {
			l.errs.add(at.pos, fmt.Sprintf("include:local %q matches no .yml or .yaml file", pattern))
		}
		return out
	}
	return l.once(at, rel)
}

func (l *loader) once(at *node, rel string) []includeFile {
	if l.seen[rel] {
		l.errs.add(at.pos, fmt.Sprintf("file %s is included more than once (or includes itself)", rel))
		return nil
	}
	l.seen[rel] = true
	return []includeFile{{name: rel}}
}

// references replaces every `!reference [job, key, ...]` with the value it
// points at in the whole merged document; in arrays a referenced array is
// spliced in, one level deep, as GitLab does for scripts.
func (l *loader) references(n, root *node, depth int) *node {
	if n == nil {
		return nil
	}
	if n.tag == "!reference" {
		return l.reference(n, root, depth)
	}
	switch n.kind {
	case mapNode:
		out := &node{kind: mapNode, pos: n.pos, keys: n.keys}
		for _, v := range n.vals {
			out.vals = append(out.vals, l.references(v, root, depth))
		}
		return out
	case seqNode:
		out := &node{kind: seqNode, pos: n.pos, tag: n.tag}
		for _, it := range n.items {
			r := l.references(it, root, depth)
			if it.tag == "!reference" && r.kind == seqNode {
				out.items = append(out.items, r.items...)
				continue
			}
			out.items = append(out.items, r)
		}
		return out
	}
	return n
}

func (l *loader) reference(n, root *node, depth int) *node {
	if depth > 10 {
		l.errs.add(n.pos, "!reference nested more than 10 levels deep")
		return &node{kind: nullNode, pos: n.pos}
	}
	if n.kind != seqNode || len(n.items) == 0 {
		l.errs.add(n.pos, "!reference takes an array of keys, like !reference [.setup, script]")
		return &node{kind: nullNode, pos: n.pos}
	}
	cur := root
	var path []string
	for _, k := range n.items {
		if k.kind != scalarNode {
			l.errs.add(k.pos, "!reference keys must be strings")
			return &node{kind: nullNode, pos: n.pos}
		}
		path = append(path, k.value)
		next := cur.get(k.value)
		if next == nil {
			l.errs.add(n.pos, fmt.Sprintf("!reference [%s]: %s not found", strings.Join(keysOf(n), ", "), strings.Join(path, ".")))
			return &node{kind: nullNode, pos: n.pos}
		}
		cur = next
	}
	return l.references(cur, root, depth+1)
}

func keysOf(n *node) []string {
	var out []string
	for _, it := range n.items {
		out = append(out, it.value)
	}
	return out
}
