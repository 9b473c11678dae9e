package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Defaults of unset intervals.
const (
	DefaultSourceInterval     = time.Minute
	DefaultDeploymentInterval = 5 * time.Minute
)

// Config is what slipway-gitops.yaml asks for: where the desired state
// lives (sources) and what of it runs on this Docker host (deployments).
type Config struct {
	// File is the file the config was read from, for messages.
	File        string
	Sources     []Source
	Deployments []Deployment
}

// Source is a git repository of desired state.
type Source struct {
	// Name is a slug: it names the mirror and the deployments refer to it.
	Name string
	// URL is a git URL or a local path; a relative path is relative to the
	// config file.
	URL string
	// Branch is followed; "main" when unset.
	Branch string
	// Interval is how often the repository is fetched.
	Interval time.Duration
	// CredentialsRef is env:SLIPWAY_GIT_<NAME>: the variable holding the
	// token for an http(s) URL.
	CredentialsRef string
}

// Deployment puts the apps under Path of a source on this host: one
// folder per app, each with a compose.yaml.
type Deployment struct {
	// Name is a slug; it prefixes the apps' environments and labels them.
	Name   string
	Source string
	// Path is the folder of the apps inside the repository; "" or "." is
	// the repository's root.
	Path string
	// Prune removes the apps whose folder left the repository.
	Prune bool
	// Interval is how often the apps are compared with what runs, even
	// when the source has no new commit (drift).
	Interval time.Duration
	// Notify gets an event per app applied or failed.
	Notify notify.Config
	// Kubernetes, when set, makes the deployment go to a cluster: Path is
	// then a folder of manifests or a Kustomize overlay, not of apps.
	Kubernetes *Kubernetes
	// DependsOn are deployments that must be Ready at their source's
	// current revision before this one is reconciled (Flux's dependsOn).
	DependsOn []string
	// Suspend keeps the deployment from being applied or pruned, as
	// slipway gitops suspend does until resume.
	Suspend bool
}

// ConfigError is a mistake in the file, located in it.
type ConfigError struct {
	File         string
	Line, Column int
	// Field is the path of the field: deployments[1].path.
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Msg)
}

// foreignKeys are top-level keys other parts of Slipway own in the same
// file: skipped here, never refused.
var foreignKeys = map[string]bool{"imagePolicies": true, "imageUpdates": true, "receivers": true}

// LoadConfig reads and validates a slipway-gitops.yaml.
func LoadConfig(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("gitops config: %w", err)
	}
	return ParseConfig(file, b)
}

// ParseConfig is LoadConfig for content already read; file names it in
// errors.
func ParseConfig(file string, content []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, yamlsyntax.InFile(file, content, err)
	}
	c := &Config{File: file}
	if len(doc.Content) == 0 {
		return nil, &ConfigError{file, 1, 1, "sources", "empty file: want sources and deployments"}
	}
	d := decoder{file: file, at: map[string]*yaml.Node{}}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, d.errf(root, "(top level)", "want a mapping with sources and deployments")
	}
	err := d.mapping(root, "", func(key string, k, v *yaml.Node) error {
		switch {
		case key == "sources":
			return d.list(v, key, func(field string, n *yaml.Node) error {
				s, err := d.source(field, n)
				c.Sources = append(c.Sources, s)
				return err
			})
		case key == "deployments":
			return d.list(v, key, func(field string, n *yaml.Node) error {
				dep, err := d.deployment(field, n)
				c.Deployments = append(c.Deployments, dep)
				return err
			})
		case foreignKeys[key]:
			return nil
		}
		return d.errf(k, key, "unknown top-level key (want sources, deployments, imagePolicies, imageUpdates, receivers)")
	})
	if err != nil {
		return nil, err
	}
	if err := d.check(c, root); err != nil {
		return nil, err
	}
	return c, nil
}

// Source returns the named source.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

type decoder struct {
	file string
	// at is where each field's value was written, for errors found after
	// decoding (a deployment naming a missing source).
	at map[string]*yaml.Node
}

func (d *decoder) errf(n *yaml.Node, field, format string, args ...any) error {
	return &ConfigError{d.file, n.Line, n.Column, field, fmt.Sprintf(format, args...)}
}

// mapping calls fn for each key of n, refusing duplicates.
func (d *decoder) mapping(n *yaml.Node, prefix string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return d.errf(n, strings.TrimPrefix(prefix, "."), "want a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := strings.TrimPrefix(prefix+"."+k.Value, ".")
		if seen[k.Value] {
			return d.errf(k, field, "given twice")
		}
		seen[k.Value] = true
		d.at[field] = v
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) list(n *yaml.Node, field string, fn func(field string, n *yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return d.errf(n, field, "want a list")
	}
	for i, item := range n.Content {
		if err := fn(fmt.Sprintf("%s[%d]", field, i), item); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errf(n, field, "want a string")
	}
	return n.Value, nil
}

func (d *decoder) duration(n *yaml.Node, field string) (time.Duration, error) {
	s, err := d.str(n, field)
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < time.Second {
		return 0, d.errf(n, field, "want a duration of at least 1s such as 30s, 5m or 1h, got %q", s)
	}
	return v, nil
}

// name reads a name that becomes part of container names and paths.
func (d *decoder) name(n *yaml.Node, field string) (string, error) {
	s, err := d.str(n, field)
	if err != nil {
		return "", err
	}
	if s == "" || slug.Label(s) != s || len(s) > 30 {
		return "", d.errf(n, field, "want lower-case letters, digits and single inner dashes, at most 30, got %q", s)
	}
	return s, nil
}

func (d *decoder) source(field string, n *yaml.Node) (Source, error) {
	s := Source{Branch: "main", Interval: DefaultSourceInterval}
	err := d.mapping(n, field, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "name":
			s.Name, err = d.name(v, f)
		case "url":
			s.URL, err = d.str(v, f)
			if err == nil && strings.HasPrefix(s.URL, "-") {
				// git would read it as an option.
				err = d.errf(v, f, "want a git URL or a path, got %q", s.URL)
			}
		case "branch":
			s.Branch, err = d.str(v, f)
			if err == nil && (s.Branch == "" || strings.HasPrefix(s.Branch, "-")) {
				err = d.errf(v, f, "want a branch name")
			}
		case "interval":
			s.Interval, err = d.duration(v, f)
		case "credentials_ref":
			s.CredentialsRef, err = d.str(v, f)
			if err == nil {
				err = d.checkCredentials(v, f, s.CredentialsRef)
			}
		default:
			err = d.errf(k, f, "unknown key (want name, url, branch, interval, credentials_ref)")
		}
		return err
	})
	if err != nil {
		return s, err
	}
	if s.Name == "" {
		return s, d.errf(n, field+".name", "required")
	}
	if s.URL == "" {
		return s, d.errf(n, field+".url", "required (a git URL or a local path)")
	}
	// As imageUpdates read theirs: one file, one meaning.
	resolved, err := mirror.Resolve(s.URL, filepath.Dir(d.file))
	if err != nil {
		return s, d.errf(d.at[field+".url"], field+".url", "%v", err)
	}
	s.URL = resolved
	return s, nil
}

// checkCredentials allows only variables meant for git tokens, as projects
// do: a config must not send, say, cloud keys to a URL of its choosing.
func (d *decoder) checkCredentials(n *yaml.Node, field, ref string) error {
	name, ok := strings.CutPrefix(ref, "env:")
	if !ok || !strings.HasPrefix(name, "SLIPWAY_GIT_") || len(name) == len("SLIPWAY_GIT_") {
		return d.errf(n, field, "want env:SLIPWAY_GIT_<NAME>, got %q", ref)
	}
	return nil
}

func (d *decoder) deployment(field string, n *yaml.Node) (Deployment, error) {
	dep := Deployment{Interval: DefaultDeploymentInterval}
	err := d.mapping(n, field, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "name":
			dep.Name, err = d.name(v, f)
		case "source":
			dep.Source, err = d.str(v, f)
		case "path":
			dep.Path, err = d.str(v, f)
			if err == nil {
				dep.Path, err = cleanPath(dep.Path)
				if err != nil {
					err = d.errf(v, f, "%v", err)
				}
			}
		case "prune":
			if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
				return d.errf(v, f, "want true or false")
			}
			dep.Prune = v.Value == "true"
		case "interval":
			dep.Interval, err = d.duration(v, f)
		case "notify":
			if err = v.Decode(&dep.Notify); err != nil {
				err = locate(d.file, err)
			}
		case "kubernetes":
			dep.Kubernetes, err = d.kubernetes(v, f)
		case "dependsOn":
			err = d.list(v, f, func(lf string, ln *yaml.Node) error {
				name, err := d.str(ln, lf)
				d.at[lf] = ln
				dep.DependsOn = append(dep.DependsOn, name)
				return err
			})
		case "suspend":
			dep.Suspend, err = d.boolean(v, f)
		default:
			err = d.errf(k, f, "unknown key (want name, source, path, prune, interval, notify, kubernetes, dependsOn, suspend)")
		}
		return err
	})
	if err != nil {
		return dep, err
	}
	if dep.Name == "" {
		return dep, d.errf(n, field+".name", "required")
	}
	if dep.Source == "" {
		return dep, d.errf(n, field+".source", "required (the name of a source)")
	}
	return dep, nil
}

// check finds what no single entry shows: duplicate names, unknown sources.
func (d *decoder) check(c *Config, root *yaml.Node) error {
	sources := map[string]bool{}
	for i, s := range c.Sources {
		field := fmt.Sprintf("sources[%d].name", i)
		if sources[s.Name] {
			return d.errf(d.at[field], field, "source %q defined twice", s.Name)
		}
		sources[s.Name] = true
	}
	deps := map[string]bool{}
	for i, dep := range c.Deployments {
		field := fmt.Sprintf("deployments[%d]", i)
		if deps[dep.Name] {
			return d.errf(d.at[field+".name"], field+".name", "deployment %q defined twice", dep.Name)
		}
		deps[dep.Name] = true
		if !sources[dep.Source] {
			return d.errf(d.at[field+".source"], field+".source", "no source named %q", dep.Source)
		}
	}
	if len(c.Deployments) == 0 {
		return d.errf(root, "deployments", "required: at least one deployment")
	}
	return d.checkDependencies(c)
}

// cleanPath refuses paths that leave the repository.
func cleanPath(p string) (string, error) {
	if p == "" || p == "." || p == "./" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") {
		return "", errors.New("want a path inside the repository, not an absolute one")
	}
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == ".." || part == "." || part == "" {
			return "", fmt.Errorf("want a plain path inside the repository (no ., .. or //), got %q", p)
		}
	}
	return strings.Trim(p, "/"), nil
}

// locate puts the file in front of notify's line:column errors.
func locate(file string, err error) error {
	var ce *notify.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s:%w", file, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// token returns the token the source's credentials_ref names, "" for none.
func (s Source) token(getenv func(string) string) (string, error) {
	if s.CredentialsRef == "" {
		return "", nil
	}
	name := strings.TrimPrefix(s.CredentialsRef, "env:")
	tok := getenv(name)
	if tok == "" {
		return "", fmt.Errorf("source %s: credentials_ref: $%s is not set", s.Name, name)
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("source %s: credentials need an http(s) repository URL", s.Name)
	}
	return tok, nil
}
