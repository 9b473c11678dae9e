// Package cleanup applies tag cleanup policies with GitLab's semantics to a
// registry, then collects garbage.
package cleanup

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/configfile"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Policy is the cleanup policy file:
//
//	rules:
//	  - repositories: "team/**"      # glob over repository names; first matching rule wins
//	    cadence: 7d                  # how often the scheduler runs it: 1d, 7d, 14d, 1month, 3month
//	    keep_n: 10                   # keep the N most recent tags matching name_regex_delete
//	    older_than: 14d              # delete only tags older than this
//	    name_regex_delete: ".*"      # tags that may be deleted (full match)
//	    name_regex_keep: "v.*"       # tags never deleted (full match, wins over delete)
//	grace_period: 1h                 # garbage collection spares blobs younger than this
type Policy struct {
	Rules       []Rule
	GracePeriod time.Duration
}

// Rule is the policy of the repositories its glob matches.
type Rule struct {
	Repositories string
	Cadence      time.Duration // zero: at every check of the server's scheduler
	KeepN        int           // zero: no count-based keep
	OlderThan    time.Duration // zero: any age
	Delete       *regexp.Regexp
	Keep         *regexp.Regexp // nil: keep nothing by name (except latest)

	DeleteSource, KeepSource string // as written, for reports
}

// rawRule is a rule as written in YAML.
type rawRule struct {
	Repositories    string `yaml:"repositories"`
	Cadence         string `yaml:"cadence"`
	KeepN           *int   `yaml:"keep_n"`
	OlderThan       string `yaml:"older_than"`
	NameRegexDelete string `yaml:"name_regex_delete"`
	NameRegexKeep   string `yaml:"name_regex_keep"`
}

type rawPolicy struct {
	Rules       []rawRule `yaml:"rules"`
	GracePeriod string    `yaml:"grace_period"`
}

// LoadPolicy reads a policy file; errors name file:line:col and the field.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cleanup policy: %w", err)
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses a policy; name is used in error messages.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlsyntax.InFile(name, data, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty policy", name)
	}
	root := doc.Content[0]
	var raw rawPolicy
	// A misspelt field must not silently keep every tag: it is an error
	// at its line and column, with the closest known key.
	if err := configfile.Decode(name, data, &raw); err != nil {
		return nil, err
	}
	p := &Policy{GracePeriod: -1}
	if raw.GracePeriod != "" {
		d, err := ParseDuration(raw.GracePeriod)
		if err != nil {
			n := valueOf(root, "grace_period")
			return nil, fmt.Errorf("%s:%d:%d: grace_period: %w", name, n.Line, n.Column, err)
		}
		p.GracePeriod = d
	}
	rules := valueOf(root, "rules")
	if rules == nil || len(raw.Rules) == 0 {
		return nil, fmt.Errorf("%s:%d:%d: rules: at least one rule is needed", name, root.Line, root.Column)
	}
	seen := map[string]int{}
	for i, rr := range raw.Rules {
		node := rules.Content[i]
		at := func(field string) string {
			n := node
			if v := valueOf(node, field); v != nil {
				n = v
			}
			return fmt.Sprintf("%s:%d:%d: rules[%d].%s", name, n.Line, n.Column, i, field)
		}
		r := Rule{Repositories: rr.Repositories, DeleteSource: rr.NameRegexDelete, KeepSource: rr.NameRegexKeep}
		if r.Repositories == "" {
			r.Repositories = "**"
		}
		if !doublestar.ValidatePattern(r.Repositories) {
			return nil, fmt.Errorf("%s: bad glob %q", at("repositories"), r.Repositories)
		}
		// The glob names the rule's schedule in the server's store.
		if j, dup := seen[r.Repositories]; dup {
			return nil, fmt.Errorf("%s: %q is the glob of rules[%d] already, which applies first", at("repositories"), r.Repositories, j)
		}
		seen[r.Repositories] = i
		var err error
		if rr.Cadence != "" {
			if r.Cadence, err = ParseDuration(rr.Cadence); err != nil {
				return nil, fmt.Errorf("%s: %w", at("cadence"), err)
			}
		}
		if rr.OlderThan != "" {
			if r.OlderThan, err = ParseDuration(rr.OlderThan); err != nil {
				return nil, fmt.Errorf("%s: %w", at("older_than"), err)
			}
		}
		if rr.KeepN != nil {
			if *rr.KeepN < 0 {
				return nil, fmt.Errorf("%s: must not be negative", at("keep_n"))
			}
			r.KeepN = *rr.KeepN
		}
		if rr.NameRegexDelete == "" {
			return nil, fmt.Errorf("%s: is required (GitLab deletes nothing without it; use \".*\" for every tag)", at("name_regex_delete"))
		}
		if r.Delete, err = fullMatch(rr.NameRegexDelete); err != nil {
			return nil, fmt.Errorf("%s: %w", at("name_regex_delete"), err)
		}
		if rr.NameRegexKeep != "" {
			if r.Keep, err = fullMatch(rr.NameRegexKeep); err != nil {
				return nil, fmt.Errorf("%s: %w", at("name_regex_keep"), err)
			}
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

// fullMatch compiles a regex the way GitLab applies it: to the whole tag
// name (GitLab surrounds patterns with \A and \z).
func fullMatch(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`\A(?:` + expr + `)\z`)
}

// RuleFor returns the first rule whose glob matches repo, or nil.
func (p *Policy) RuleFor(repo string) *Rule {
	for i := range p.Rules {
		if ok, _ := doublestar.Match(p.Rules[i].Repositories, repo); ok {
			return &p.Rules[i]
		}
	}
	return nil
}

// ParseDuration accepts Go durations ("90m", "1h") and GitLab's day and
// month forms ("7d", "14d", "1month", "3month"; a month is 30 days).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"months": 30 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "d": 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration " + strconv.Quote(s) + ": want e.g. 1h, 7d, 1month")
	}
	return d, nil
}

func valueOf(mapping *yaml.Node, key string) *yaml.Node {
	if mapping == nil || mapping.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}
