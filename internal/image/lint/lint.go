// Package lint checks Dockerfiles against hadolint's rules (same ids, same
// meanings, same default severities) on top of BuildKit's Dockerfile parser,
// so that what it accepts is exactly what the image build step will accept.
package lint

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Severity orders findings; a higher value is more severe.
type Severity int

// The severities of hadolint, from least to most severe. SeverityNone is
// only meaningful as a failure threshold: nothing reaches it.
const (
	severityUnset Severity = iota
	SeverityStyle
	SeverityInfo
	SeverityWarning
	SeverityError
	SeverityNone
)

var severityNames = map[Severity]string{
	SeverityStyle:   "style",
	SeverityInfo:    "info",
	SeverityWarning: "warning",
	SeverityError:   "error",
	SeverityNone:    "none",
}

func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return "unset"
}

// ParseSeverity reads one of error, warning, info, style or none.
func ParseSeverity(s string) (Severity, error) {
	for sev, name := range severityNames {
		if strings.EqualFold(s, name) {
			return sev, nil
		}
	}
	return severityUnset, fmt.Errorf("unknown severity %q (want error, warning, info, style or none)", s)
}

// Finding is one rule violated at one line of one file.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Rule     string   `json:"code"`
	Severity Severity `json:"level"`
	Message  string   `json:"message"`
}

// MarshalText lets Severity print as its name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Config selects and tunes rules, as hadolint's .hadolint.yaml does.
type Config struct {
	// Ignored rule ids are never reported.
	Ignored []string
	// FailureThreshold is the least severity that makes a lint fail;
	// the zero value means hadolint's default, info.
	FailureThreshold Severity
	// TrustedRegistries, when not empty, turns on DL3026: base images must
	// come from one of these registries (docker.io for Docker Hub; a
	// leading "*." matches any subdomain).
	TrustedRegistries []string
	// Override changes the severity of a rule id.
	Override map[string]Severity
	// DisableIgnorePragma makes "# hadolint ignore=" comments ineffective.
	DisableIgnorePragma bool
}

// Threshold returns the effective failure threshold.
func (c Config) Threshold() Severity {
	if c.FailureThreshold == severityUnset {
		return SeverityInfo
	}
	return c.FailureThreshold
}

// Fails reports whether any finding reaches the configured threshold.
func (c Config) Fails(findings []Finding) bool {
	t := c.Threshold()
	for _, f := range findings {
		if f.Severity >= t {
			return true
		}
	}
	return false
}

// File lints the Dockerfile at path, whatever its name.
func File(path string, cfg Config) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lint dockerfile: %w", err)
	}
	defer f.Close()
	return Source(path, f, cfg)
}

// Source lints a Dockerfile read from r; name is used in findings and
// errors (a path, or any label for a generated Dockerfile).
func Source(name string, r io.Reader, cfg Config) ([]Finding, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("lint dockerfile %s: %w", name, err)
	}
	df, err := parseDockerfile(name, src)
	if err != nil {
		return nil, err
	}
	var pragmas pragmas
	if !cfg.DisableIgnorePragma {
		pragmas = parsePragmas(src)
	}
	var findings []Finding
	for _, r := range rules {
		if slices.Contains(cfg.Ignored, r.ID) || pragmas.global[r.ID] {
			continue
		}
		sev := r.Severity
		if o, ok := cfg.Override[r.ID]; ok {
			sev = o
		}
		for _, line := range r.check(df, &cfg) {
			if pragmas.ignores(line, r.ID) {
				continue
			}
			findings = append(findings, Finding{
				File: name, Line: line, Column: 1,
				Rule: r.ID, Severity: sev, Message: r.Message,
			})
		}
	}
	slices.SortStableFunc(findings, func(a, b Finding) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return findings, nil
}
