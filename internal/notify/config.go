package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Config is the `notify:` section of Slipway's YAML configuration: a list of
// targets. It validates itself when decoded, with positions:
//
//	notify:
//	  - type: slack
//	    url_env: SLACK_WEBHOOK_URL
//	    events: [pipeline.failed, pipeline.success]
type Config []TargetConfig

// TargetConfig is one entry of the notify section. Secrets (the Slack URL,
// webhook secrets, API tokens) are best given as the name of an environment
// variable (*_env) so the file holds none.
type TargetConfig struct {
	Name string
	// Type is slack, webhook, github or gitlab.
	Type string
	// URL (or URLEnv) is where slack and webhook targets post.
	URL, URLEnv string
	// Secret (or SecretEnv) signs webhook targets.
	Secret, SecretEnv string
	// Token (or TokenEnv) authenticates github and gitlab targets.
	Token, TokenEnv string
	// BaseURL is the API of github targets (default api.github.com) and the
	// instance of gitlab targets (required).
	BaseURL string
	// Context names commit statuses (default "slipway").
	Context string
	// Repo overrides the repository of commit statuses: owner/name on
	// GitHub, an id or path on GitLab.
	Repo string
	// Events are patterns on event names; each type has a default.
	Events []string
	// Line and Column locate the entry in its file.
	Line, Column int

	pos map[string]position // where each field was written
}

type position struct{ line, column int }

// Types of targets.
const (
	TypeSlack   = "slack"
	TypeWebhook = "webhook"
	TypeGitHub  = "github"
	TypeGitLab  = "gitlab"
)

// DefaultEvents are the events a target gets when its config names none.
var DefaultEvents = map[string][]string{
	TypeSlack:   {"pipeline.success", "pipeline.failed", "pipeline.canceled"},
	TypeWebhook: {"*"},
	TypeGitHub:  {"pipeline.*"},
	TypeGitLab:  {"pipeline.*"},
}

// ConfigError is a mistake in the notify section, located in its file.
type ConfigError struct {
	Line, Column int
	// Field is the path of the field: notify[1].type.
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Line == 0 {
		return e.Field + ": " + e.Msg
	}
	return fmt.Sprintf("%d:%d: %s: %s", e.Line, e.Column, e.Field, e.Msg)
}

var fields = []string{"name", "type", "url", "url_env", "secret", "secret_env", "token", "token_env", "base_url", "context", "repo", "events"}

// UnmarshalYAML decodes and validates the section.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*c = nil
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return &ConfigError{n.Line, n.Column, "notify", "want a list of targets"}
	}
	out := make(Config, 0, len(n.Content))
	var errs []error
	for i, item := range n.Content {
		t, err := decodeTarget(fmt.Sprintf("notify[%d]", i), item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}

func decodeTarget(prefix string, n *yaml.Node) (TargetConfig, error) {
	t := TargetConfig{Line: n.Line, Column: n.Column, pos: map[string]position{}}
	if n.Kind != yaml.MappingNode {
		return t, &ConfigError{n.Line, n.Column, prefix, "want a mapping with at least a type"}
	}
	strs := map[string]*string{
		"name": &t.Name, "type": &t.Type, "url": &t.URL, "url_env": &t.URLEnv,
		"secret": &t.Secret, "secret_env": &t.SecretEnv, "token": &t.Token, "token_env": &t.TokenEnv,
		"base_url": &t.BaseURL, "context": &t.Context, "repo": &t.Repo,
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		field := prefix + "." + key.Value
		if _, dup := t.pos[key.Value]; dup {
			return t, &ConfigError{key.Line, key.Column, field, "given twice"}
		}
		t.pos[key.Value] = position{val.Line, val.Column}
		if dst, ok := strs[key.Value]; ok {
			if val.Kind != yaml.ScalarNode {
				return t, &ConfigError{val.Line, val.Column, field, "want a string"}
			}
			*dst = val.Value
			continue
		}
		if key.Value != "events" {
			return t, &ConfigError{key.Line, key.Column, field, "unknown field (want one of " + strings.Join(fields, ", ") + ")"}
		}
		if val.Kind != yaml.SequenceNode {
			return t, &ConfigError{val.Line, val.Column, field, "want a list of event patterns"}
		}
		for i, ev := range val.Content {
			f := fmt.Sprintf("%s[%d]", field, i)
			if ev.Kind != yaml.ScalarNode {
				return t, &ConfigError{ev.Line, ev.Column, f, "want a string"}
			}
			if err := checkPattern(ev.Value); err != nil {
				return t, &ConfigError{ev.Line, ev.Column, f, err.Error()}
			}
			t.Events = append(t.Events, ev.Value)
		}
	}
	return t, t.validate(prefix)
}

// checkPattern refuses patterns that match no event, which are typos.
func checkPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern", p)
	}
	var names []string
	for _, k := range kinds {
		for _, s := range statuses {
			name := string(k) + "." + string(s)
			names = append(names, name)
			if ok, _ := path.Match(p, name); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("%q matches no event (events are %s)", p, strings.Join(names, ", "))
}

func (t TargetConfig) errAt(prefix, field, msg string) error {
	p, ok := t.pos[field]
	if !ok {
		p = position{t.Line, t.Column}
	}
	return &ConfigError{p.line, p.column, prefix + "." + field, msg}
}

func (t TargetConfig) validate(prefix string) error {
	need := func(field, envField string) error {
		v, env := t.field(field), t.field(envField)
		switch {
		case v == "" && env == "":
			return t.errAt(prefix, field, fmt.Sprintf("required for type %s (or %s)", t.Type, envField))
		case v != "" && env != "":
			return t.errAt(prefix, envField, "give "+field+" or "+envField+", not both")
		}
		return nil
	}
	var err error
	switch t.Type {
	case TypeSlack:
		err = need("url", "url_env")
	case TypeWebhook:
		err = errors.Join(need("url", "url_env"), need("secret", "secret_env"))
	case TypeGitHub:
		err = need("token", "token_env")
	case TypeGitLab:
		err = need("token", "token_env")
		if t.BaseURL == "" {
			err = errors.Join(err, t.errAt(prefix, "base_url", "required for type gitlab (the instance, e.g. https://gitlab.example.com)"))
		}
	case "":
		return t.errAt(prefix, "type", "required (slack, webhook, github or gitlab)")
	default:
		return t.errAt(prefix, "type", fmt.Sprintf("unknown type %q (want slack, webhook, github or gitlab)", t.Type))
	}
	if err != nil {
		return err
	}
	for _, f := range []string{"url", "base_url"} {
		if v := t.field(f); v != "" {
			if msg := checkURL(v); msg != "" {
				return t.errAt(prefix, f, msg)
			}
		}
	}
	return nil
}

func (t TargetConfig) field(name string) string {
	return map[string]string{"url": t.URL, "url_env": t.URLEnv, "secret": t.Secret, "secret_env": t.SecretEnv,
		"token": t.Token, "token_env": t.TokenEnv, "base_url": t.BaseURL}[name]
}

// checkURL never quotes the URL: a Slack URL is a secret.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "not an http(s) URL"
	}
	return ""
}

// Load reads the notify section of a YAML configuration file. Errors start
// with file:line:column.
func Load(file string) (Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("notify config: %w", err)
	}
	var doc struct {
		Notify Config `yaml:"notify"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) && !errors.As(err, new(*ConfigError)) {
			return nil, yamlsyntax.InFile(file, b, err) // broken YAML: where it breaks
		}
		return nil, prefixErrors(file, err)
	}
	return doc.Notify, nil
}

// prefixErrors puts the file name in front of each located error.
func prefixErrors(file string, err error) error {
	var ce *ConfigError
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, prefixErrors(file, e))
		}
		return errors.Join(out...)
	}
	if errors.As(err, &ce) {
		return fmt.Errorf("%s:%w", file, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// Targets builds the notifiers, reading *_env secrets with getenv (os.Getenv
// when nil). client makes every request (http.DefaultClient when nil; the
// Dispatcher bounds each attempt with its Timeout).
func (c Config) Targets(getenv func(string) string, client *http.Client) ([]Target, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var out []Target
	for i, t := range c {
		prefix := fmt.Sprintf("notify[%d]", i)
		resolve := func(field, envField string) (string, error) {
			if v := t.field(field); v != "" {
				return v, nil
			}
			name := t.field(envField)
			v := getenv(name)
			if v == "" {
				return "", t.errAt(prefix, envField, fmt.Sprintf("environment variable %s is not set", name))
			}
			return v, nil
		}
		var (
			n   Notifier
			err error
		)
		switch t.Type {
		case TypeSlack:
			var u string
			if u, err = resolve("url", "url_env"); err == nil {
				if msg := checkURL(u); msg != "" {
					err = t.errAt(prefix, "url_env", msg)
				}
				n = Slack{URL: u, Client: client}
			}
		case TypeWebhook:
			var u, s string
			if u, err = resolve("url", "url_env"); err == nil {
				if msg := checkURL(u); msg != "" {
					err = t.errAt(prefix, "url_env", msg)
				} else if s, err = resolve("secret", "secret_env"); err == nil {
					n = Webhook{URL: u, Secret: []byte(s), Client: client}
				}
			}
		case TypeGitHub:
			var tok string
			tok, err = resolve("token", "token_env")
			n = GitHubStatus{BaseURL: t.BaseURL, Token: tok, Context: t.Context, Repo: t.Repo, Client: client}
		case TypeGitLab:
			var tok string
			tok, err = resolve("token", "token_env")
			n = GitLabStatus{BaseURL: t.BaseURL, Token: tok, Name: t.Context, Project: t.Repo, Client: client}
		default:
			err = t.errAt(prefix, "type", fmt.Sprintf("unknown type %q", t.Type))
		}
		if err != nil {
			return nil, err
		}
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("%s#%d", t.Type, i)
		}
		events := slices.Clone(t.Events)
		if len(events) == 0 {
			events = DefaultEvents[t.Type]
		}
		out = append(out, Target{Name: name, Notifier: n, Events: events})
	}
	return out, nil
}
