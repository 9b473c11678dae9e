// Package receiver lets forges trigger GitOps passes as Flux's Receiver
// does: each receiver of the config has its own endpoint,
// /hook/<sha256 of its secret and name>, checks the call with its own
// secret (GitHub, GitLab and Gitea signatures, a generic HMAC, or only the
// unguessable path) and asks for an immediate pass of the deployments it
// names. No admin token is involved: a forge can send one.
package receiver

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Types of receivers, as Flux names them.
const (
	TypeGitHub      = "github"
	TypeGitLab      = "gitlab"
	TypeGitea       = "gitea"
	TypeGenericHMAC = "generic-hmac"
	TypeGeneric     = "generic"
)

var types = []string{TypeGitHub, TypeGitLab, TypeGitea, TypeGenericHMAC, TypeGeneric}

// Receiver is one entry of the config's receivers list.
type Receiver struct {
	// Name is a slug; with the secret it makes the endpoint's path.
	Name string
	Type string
	// SecretRef is env:NAME or file:PATH (relative to the config file).
	SecretRef string
	// Events are the forge's event names that trigger a pass (push,
	// "Push Hook"...); none means all. Only github, gitlab and gitea
	// receivers name events.
	Events []string
	// Deployments are the names of the deployments a call reconciles.
	Deployments []string

	// at locates the secret_ref field, for errors found when it is read.
	at gitops.ConfigError
}

// Load reads the receivers of the config's file; a file without any has
// none.
func Load(cfg *gitops.Config) ([]Receiver, error) {
	b, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("gitops config: %w", err)
	}
	return Parse(cfg, b)
}

// Parse reads the receivers key of the config's content (cfg is the rest
// of it, parsed): mistakes name file:line:col and the field.
func Parse(cfg *gitops.Config, content []byte) ([]Receiver, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, yamlsyntax.InFile(cfg.File, content, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	p := parser{file: cfg.File}
	for _, d := range cfg.Deployments {
		p.deployments = append(p.deployments, d.Name)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "receivers" {
			return p.receivers(root.Content[i+1])
		}
	}
	return nil, nil
}

type parser struct {
	file        string
	deployments []string
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) error {
	return &gitops.ConfigError{File: p.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) receivers(n *yaml.Node) ([]Receiver, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "receivers", "want a list")
	}
	var out []Receiver
	for i, item := range n.Content {
		field := fmt.Sprintf("receivers[%d]", i)
		r, err := p.receiver(field, item)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o Receiver) bool { return o.Name == r.Name }) {
			return nil, p.errf(item, field+".name", "receiver %q defined twice", r.Name)
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *parser) receiver(field string, n *yaml.Node) (Receiver, error) {
	var r Receiver
	if n.Kind != yaml.MappingNode {
		return r, p.errf(n, field, "want a mapping with name, type, secret_ref, events, deployments")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := field + "." + k.Value
		if seen[k.Value] {
			return r, p.errf(k, f, "given twice")
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "name":
			r.Name, err = p.str(v, f)
			if err == nil && (slug.Label(r.Name) != r.Name || len(r.Name) > 63) {
				err = p.errf(v, f, "want lower-case letters, digits and single inner dashes, got %q", r.Name)
			}
		case "type":
			r.Type, err = p.str(v, f)
			if err == nil && !slices.Contains(types, r.Type) {
				err = p.errf(v, f, "want one of %s, got %q", strings.Join(types, ", "), r.Type)
			}
		case "secret_ref":
			r.SecretRef, err = p.str(v, f)
			if err == nil && !strings.HasPrefix(r.SecretRef, "env:") && !strings.HasPrefix(r.SecretRef, "file:") {
				err = p.errf(v, f, "want env:VARIABLE or file:PATH, got %q", r.SecretRef)
			}
			r.at = gitops.ConfigError{File: p.file, Line: v.Line, Column: v.Column, Field: f}
		case "events":
			r.Events, err = p.strs(v, f)
		case "deployments":
			r.Deployments, err = p.strs(v, f)
			for j, name := range r.Deployments {
				if err == nil && !slices.Contains(p.deployments, name) {
					err = p.errf(v.Content[j], fmt.Sprintf("%s[%d]", f, j), "no deployment named %q", name)
				}
			}
		default:
			err = p.errf(k, f, "unknown key (want name, type, secret_ref, events, deployments)")
		}
		if err != nil {
			return r, err
		}
	}
	for _, req := range []struct{ key, val string }{{"name", r.Name}, {"type", r.Type}, {"secret_ref", r.SecretRef}} {
		if req.val == "" {
			return r, p.errf(n, field+"."+req.key, "required")
		}
	}
	if len(r.Deployments) == 0 {
		return r, p.errf(n, field+".deployments", "required: the deployments a call reconciles")
	}
	if len(r.Events) > 0 && (r.Type == TypeGeneric || r.Type == TypeGenericHMAC) {
		return r, p.errf(n, field+".events", "%s receivers get no event name to filter on: only github, gitlab and gitea ones do", r.Type)
	}
	return r, nil
}

func (p *parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, field, "want a string")
	}
	return n.Value, nil
}

func (p *parser) strs(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, field, "want a list of strings")
	}
	var out []string
	for i, item := range n.Content {
		s, err := p.str(item, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, p.errf(item, fmt.Sprintf("%s[%d]", field, i), "empty")
		}
		out = append(out, s)
	}
	return out, nil
}
