package imageupdate

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
	yaml "go.yaml.in/yaml/v3"
)

// Config is the part of slipway-gitops.yaml that image automation reads:
//
//	imagePolicies:            # what to scan and how to choose
//	  - name: app
//	    image: 127.0.0.1:5000/team/app
//	    credentials_ref: env:REGISTRY_AUTH   # optional: the variable holds user:password
//	    policy: {semver: {range: ">=1.0.0 <2.0.0"}}   # or numerical/alphabetical: {order: asc|desc}
//	    filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$', extract: '$ts'}   # optional
//	    pinDigest: true                      # optional
//	imageUpdates:             # where to write the choices
//	  - name: staging
//	    url: ../deploy        # a git URL or a local path (relative to this file)
//	    branch: main          # default main
//	    pushBranch: main      # default: branch
//	    path: clusters/staging   # default: the whole repository
//	    author: {name: Slipway, email: slipway@example.com}
//	    message: "..."        # a text/template over MessageData
//	    interval: 5m          # how often --watch runs it
//
// The keys sources and deployments belong to GitOps reconciliation and are
// ignored here.
type Config struct {
	Policies []*imagepolicy.Policy
	Updates  []*Update
}

// Defaults of an update.
const (
	DefaultBranch      = "main"
	DefaultAuthorName  = "Slipway"
	DefaultAuthorEmail = "slipway@localhost"
	DefaultInterval    = 5 * time.Minute
	DefaultMessage     = `{{.Update}}: update images

{{range .Changes}}- {{.File}}:{{.Line}}: {{.Old}} -> {{.New}}
{{end}}`
)

// otherKeys are the top-level keys of the file that other parts of
// Slipway read.
var otherKeys = []string{"sources", "deployments", "receivers"}

// LoadConfig reads and checks a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gitops config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a config file's content; file names it in errors,
// which carry file:line:col and the field, and locates relative paths.
func ParseConfig(file string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlsyntax.InFile(file, data, err)
	}
	c := &Config{}
	if len(doc.Content) == 0 {
		return c, nil
	}
	d := decoder{file: file}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, d.errAt(root, "the file", errors.New("want a mapping of imagePolicies, imageUpdates, sources, deployments"))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		var err error
		switch key.Value {
		case "imagePolicies":
			c.Policies, err = d.policies(val)
		case "imageUpdates":
			c.Updates, err = d.updates(val, filepath.Dir(file))
		default:
			if !slices.Contains(otherKeys, key.Value) {
				err = d.errAt(key, key.Value, errors.New("unknown top-level key (want imagePolicies, imageUpdates, sources, deployments or receivers)"))
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// decoder reads YAML nodes strictly, naming file:line:col in errors.
type decoder struct{ file string }

func (d decoder) errAt(n *yaml.Node, field string, err error) error {
	return fmt.Errorf("%s:%d:%d: %s: %w", d.file, n.Line, n.Column, field, err)
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields returns the values of a mapping by key, refusing keys not in
// known and keys given twice.
func (d decoder) fields(n *yaml.Node, field string, known ...string) (map[string]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, d.errAt(n, field, fmt.Errorf("want a mapping with %s", strings.Join(known, ", ")))
	}
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		switch _, dup := m[key.Value]; {
		case !slices.Contains(known, key.Value):
			return nil, d.errAt(key, field+"."+key.Value, fmt.Errorf("unknown field (want %s)", strings.Join(known, ", ")))
		case dup:
			return nil, d.errAt(key, field+"."+key.Value, errors.New("given twice"))
		}
		m[key.Value] = deref(n.Content[i+1])
	}
	return m, nil
}

// valueOf returns the value of key in a mapping already read by fields,
// or the mapping itself when key is absent (where to point an error).
func valueOf(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return n
}

// list returns the items of a sequence.
func (d decoder) list(n *yaml.Node, field string) ([]*yaml.Node, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errAt(n, field, errors.New("want a list"))
	}
	return n.Content, nil
}

// str reads an optional string field.
func (d decoder) str(m map[string]*yaml.Node, key, field string) (string, error) {
	n, ok := m[key]
	if !ok {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errAt(n, field+"."+key, errors.New("want a string"))
	}
	return n.Value, nil
}

func (d decoder) policies(n *yaml.Node) ([]*imagepolicy.Policy, error) {
	items, err := d.list(n, "imagePolicies")
	if err != nil {
		return nil, err
	}
	var out []*imagepolicy.Policy
	names := map[string]bool{}
	for i, item := range items {
		field := fmt.Sprintf("imagePolicies[%d]", i)
		p, err := d.policy(item, field)
		if err != nil {
			return nil, err
		}
		if names[p.Name] {
			return nil, d.errAt(valueOf(item, "name"), field+".name", fmt.Errorf("%q is the name of an earlier policy", p.Name))
		}
		names[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

func (d decoder) policy(item *yaml.Node, field string) (*imagepolicy.Policy, error) {
	m, err := d.fields(item, field, "name", "image", "credentials_ref", "policy", "filterTags", "pinDigest")
	if err != nil {
		return nil, err
	}
	var s imagepolicy.Spec
	// at locates a field of the item by the path FieldError uses.
	at := map[string]*yaml.Node{"": deref(item)}
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &s.Name}, {"image", &s.Image}, {"credentials_ref", &s.CredentialsRef}} {
		if *f.dst, err = d.str(m, f.key, field); err != nil {
			return nil, err
		}
		at[f.key] = m[f.key]
	}
	if n, ok := m["pinDigest"]; ok {
		if s.PinDigest, err = strconv.ParseBool(n.Value); err != nil || n.Kind != yaml.ScalarNode {
			return nil, d.errAt(n, field+".pinDigest", errors.New("want true or false"))
		}
	}
	if n, ok := m["filterTags"]; ok {
		f, err := d.fields(n, field+".filterTags", "pattern", "extract")
		if err != nil {
			return nil, err
		}
		s.FilterTags = &imagepolicy.FilterSpec{}
		if s.FilterTags.Pattern, err = d.str(f, "pattern", field+".filterTags"); err != nil {
			return nil, err
		}
		if s.FilterTags.Extract, err = d.str(f, "extract", field+".filterTags"); err != nil {
			return nil, err
		}
		at["filterTags"], at["filterTags.pattern"], at["filterTags.extract"] = n, f["pattern"], f["extract"]
	}
	if n, ok := m["policy"]; ok {
		at["policy"] = n
		if err := d.choice(n, field+".policy", &s, at); err != nil {
			return nil, err
		}
	}
	p, err := imagepolicy.New(s)
	var fe *imagepolicy.FieldError
	if errors.As(err, &fe) {
		// The field itself, or the nearest enclosing one that is written.
		k := fe.Field
		for at[k] == nil && k != "" {
			k = parent(k)
		}
		return nil, d.errAt(at[k], field+"."+fe.Field, fe.Err)
	}
	return p, err
}

// parent drops the last element of a field path: policy.semver -> policy.
func parent(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// choice reads policy: {semver: {range}} | {numerical: {order}} | {alphabetical: {order}}.
func (d decoder) choice(n *yaml.Node, field string, s *imagepolicy.Spec, at map[string]*yaml.Node) error {
	m, err := d.fields(n, field, "semver", "numerical", "alphabetical")
	if err != nil {
		return err
	}
	for _, kind := range []string{"semver", "numerical", "alphabetical"} {
		v, ok := m[kind]
		if !ok {
			continue
		}
		key := "order"
		if kind == "semver" {
			key = "range"
		}
		f, err := d.fields(v, field+"."+kind, key)
		if err != nil {
			return err
		}
		val, err := d.str(f, key, field+"."+kind)
		if err != nil {
			return err
		}
		at["policy."+kind], at["policy."+kind+"."+key] = v, f[key]
		switch kind {
		case "semver":
			s.Semver = &imagepolicy.SemverSpec{Range: val}
		case "numerical":
			s.Numerical = &imagepolicy.OrderSpec{Order: val}
		case "alphabetical":
			s.Alphabetical = &imagepolicy.OrderSpec{Order: val}
		}
	}
	return nil
}

func (d decoder) updates(n *yaml.Node, dir string) ([]*Update, error) {
	items, err := d.list(n, "imageUpdates")
	if err != nil {
		return nil, err
	}
	var out []*Update
	names := map[string]bool{}
	for i, item := range items {
		u, err := d.update(item, fmt.Sprintf("imageUpdates[%d]", i), dir)
		if err != nil {
			return nil, err
		}
		if names[u.Name] {
			return nil, d.errAt(valueOf(item, "name"), fmt.Sprintf("imageUpdates[%d].name", i), fmt.Errorf("%q is the name of an earlier update", u.Name))
		}
		names[u.Name] = true
		out = append(out, u)
	}
	return out, nil
}

func (d decoder) update(item *yaml.Node, field, dir string) (*Update, error) {
	m, err := d.fields(item, field, "name", "url", "branch", "pushBranch", "path", "author", "message", "interval")
	if err != nil {
		return nil, err
	}
	u := &Update{Branch: DefaultBranch, Path: ".", AuthorName: DefaultAuthorName, AuthorEmail: DefaultAuthorEmail, Interval: DefaultInterval}
	var message, interval string
	strs := []struct {
		key string
		dst *string
	}{{"name", &u.Name}, {"url", &u.URL}, {"branch", &u.Branch}, {"pushBranch", &u.PushBranch}, {"path", &u.Path}, {"message", &message}, {"interval", &interval}}
	for _, s := range strs {
		if _, ok := m[s.key]; !ok {
			continue
		}
		if *s.dst, err = d.str(m, s.key, field); err != nil {
			return nil, err
		}
	}
	for _, key := range []string{"name", "url"} {
		if valueOf(item, key).Value == "" {
			return nil, d.errAt(valueOf(item, key), field+"."+key, errors.New("is required"))
		}
	}
	if !updateName.MatchString(u.Name) {
		return nil, d.errAt(m["name"], field+".name", fmt.Errorf("%q: want letters, digits, '.', '_' and '-'", u.Name))
	}
	for _, key := range []string{"branch", "pushBranch"} {
		if m[key] == nil {
			continue
		}
		if err := checkBranch(m[key].Value); err != nil {
			return nil, d.errAt(m[key], field+"."+key, err)
		}
	}
	u.PushBranch = cmp.Or(u.PushBranch, u.Branch)
	if !filepath.IsLocal(filepath.FromSlash(u.Path)) {
		return nil, d.errAt(m["path"], field+".path", fmt.Errorf("%q must be relative and stay inside the repository", u.Path))
	}
	url, err := mirror.Resolve(u.URL, dir)
	if err != nil {
		return nil, d.errAt(m["url"], field+".url", err)
	}
	u.URL = url
	if n, ok := m["author"]; ok {
		a, err := d.fields(n, field+".author", "name", "email")
		if err != nil {
			return nil, err
		}
		if v, err := d.str(a, "name", field+".author"); err != nil {
			return nil, err
		} else if v != "" {
			u.AuthorName = v
		}
		if v, err := d.str(a, "email", field+".author"); err != nil {
			return nil, err
		} else if v != "" {
			u.AuthorEmail = v
		}
	}
	if interval != "" {
		// Each run clones and may push: sooner than every second would
		// hammer the git server and the registry (as gitops intervals, 1s).
		if u.Interval, err = time.ParseDuration(interval); err != nil || u.Interval < time.Second {
			return nil, d.errAt(m["interval"], field+".interval", fmt.Errorf("%q: want a duration of at least 1s such as 30s, 5m, 1h", interval))
		}
	}
	if u.Message, err = parseMessage(cmp.Or(message, DefaultMessage)); err != nil {
		return nil, d.errAt(valueOf(item, "message"), field+".message", err)
	}
	return u, nil
}

// updateName is a name that is one segment of a URL path: the server's
// API and page run an update by its name.
var updateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkBranch refuses names git would refuse or read as an option.
func checkBranch(b string) error {
	bad := b == "" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.HasSuffix(b, ".") || strings.Contains(b, "..") ||
		strings.Contains(b, "//") || strings.Contains(b, "@{") || b == "@" ||
		strings.ContainsFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) })
	if bad {
		return fmt.Errorf("%q is not a valid branch name", b)
	}
	return nil
}
