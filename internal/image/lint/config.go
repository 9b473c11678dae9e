package lint

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// ConfigFileNames are the names LoadConfig's callers look for in the
// current folder, as hadolint does.
var ConfigFileNames = []string{".hadolint.yaml", ".hadolint.yml"}

// hadolint keys that change nothing here (formatting, labels) are accepted
// so that an existing .hadolint.yaml keeps working.
var inertConfigKeys = map[string]bool{
	"no-color": true, "no-fail": true, "format": true, "strict-labels": true,
	"label-schema": true, "require-labels": true, "verbose": true,
}

var ruleIDRe = regexp.MustCompile(`^(DL|SC)[0-9]{4}$`)

// LoadConfig reads a hadolint configuration file: ignored,
// failure-threshold, trustedRegistries, override and
// disable-ignore-pragma. Errors name the file, line and column.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("lint config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return Config{}, fmt.Errorf("%s:%d:%d: %w", path, ce.Line, ce.Column, ce.Err)
		}
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ConfigError is a configuration mistake at a position in the file.
type ConfigError struct {
	Line, Column int
	Err          error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%d:%d: %v", e.Line, e.Column, e.Err) }

func (e *ConfigError) Unwrap() error { return e.Err }

// ParseConfig parses the YAML of a hadolint configuration file. Mistakes
// are *ConfigError, YAML syntax errors too when they can be placed.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := yamlsyntax.Locate(data, err)
		if e.Line == 0 {
			return cfg, fmt.Errorf("invalid YAML: %s", e.Msg)
		}
		return cfg, &ConfigError{Line: e.Line, Column: e.Col, Err: errors.New("invalid YAML: " + e.Msg)}
	}
	if len(doc.Content) == 0 {
		return cfg, nil // an empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return cfg, posErr(root, errors.New("the configuration must be a mapping"))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		var err error
		switch key.Value {
		case "ignored":
			cfg.Ignored, err = ruleList(val)
		case "trustedRegistries", "trusted-registries":
			err = decodeStrings(val, &cfg.TrustedRegistries)
		case "failure-threshold":
			cfg.FailureThreshold, err = severityOf(val)
		case "disable-ignore-pragma":
			err = val.Decode(&cfg.DisableIgnorePragma)
			if err != nil {
				err = posErr(val, fmt.Errorf("disable-ignore-pragma: want true or false"))
			}
		case "override":
			cfg.Override, err = overrides(val)
		default:
			if !inertConfigKeys[key.Value] {
				err = posErr(key, fmt.Errorf("unknown field %q", key.Value))
			}
		}
		if err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

func posErr(n *yaml.Node, err error) error {
	return &ConfigError{Line: n.Line, Column: n.Column, Err: err}
}

func decodeStrings(n *yaml.Node, out *[]string) error {
	if n.Kind != yaml.SequenceNode {
		return posErr(n, errors.New("want a list of strings"))
	}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			return posErr(item, errors.New("want a string"))
		}
		*out = append(*out, item.Value)
	}
	return nil
}

func ruleList(n *yaml.Node) ([]string, error) {
	var ids []string
	if err := decodeStrings(n, &ids); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if !ruleIDRe.MatchString(id) {
			return nil, posErr(n.Content[i], fmt.Errorf("%q is not a rule id (like DL3008)", id))
		}
	}
	return ids, nil
}

func severityOf(n *yaml.Node) (Severity, error) {
	s, err := ParseSeverity(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return s, posErr(n, fmt.Errorf("failure-threshold: %w", err))
	}
	return s, nil
}

func overrides(n *yaml.Node) (map[string]Severity, error) {
	if n.Kind != yaml.MappingNode {
		return nil, posErr(n, errors.New("override: want a mapping of severity to rule ids"))
	}
	out := map[string]Severity{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		sev, err := ParseSeverity(n.Content[i].Value)
		if err != nil || sev == SeverityNone {
			return nil, posErr(n.Content[i], fmt.Errorf("override: unknown severity %q", n.Content[i].Value))
		}
		ids, err := ruleList(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[id] = sev
		}
	}
	return out, nil
}
