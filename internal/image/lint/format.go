package lint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Formats lists the output formats Write understands.
var Formats = []string{"text", "json", "gitlab"}

// Write prints findings as text ("path:line RULE severity: message"),
// hadolint's JSON, or GitLab Code Quality JSON.
func Write(w io.Writer, format string, findings []Finding) error {
	switch format {
	case "", "text":
		for _, f := range findings {
			if _, err := fmt.Fprintf(w, "%s:%d %s %s: %s\n", f.File, f.Line, f.Rule, f.Severity, f.Message); err != nil {
				return err
			}
		}
		return nil
	case "json":
		if findings == nil {
			findings = []Finding{}
		}
		return writeJSON(w, findings)
	case "gitlab":
		return writeJSON(w, codeQuality(findings))
	}
	return fmt.Errorf("unknown format %q (want text, json or gitlab)", format)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// codeQualityIssue is one entry of GitLab's Code Quality report (a subset
// of the Code Climate issue format).
type codeQualityIssue struct {
	Description string              `json:"description"`
	CheckName   string              `json:"check_name"`
	Fingerprint string              `json:"fingerprint"`
	Severity    string              `json:"severity"`
	Type        string              `json:"type"`
	Categories  []string            `json:"categories"`
	Location    codeQualityLocation `json:"location"`
}

type codeQualityLocation struct {
	Path  string `json:"path"`
	Lines struct {
		Begin int `json:"begin"`
	} `json:"lines"`
}

// GitLab's levels are info, minor, major, critical and blocker.
var gitlabSeverity = map[Severity]string{
	SeverityError:   "blocker",
	SeverityWarning: "major",
	SeverityInfo:    "info",
	SeverityStyle:   "minor",
}

func codeQuality(findings []Finding) []codeQualityIssue {
	out := make([]codeQualityIssue, 0, len(findings))
	for _, f := range findings {
		// The fingerprint must be stable across runs and unique per issue,
		// so GitLab can tell new findings from old ones.
		sum := sha256.Sum256([]byte(f.File + "\x00" + strconv.Itoa(f.Line) + "\x00" + f.Rule + "\x00" + f.Message))
		issue := codeQualityIssue{
			Description: f.Message,
			CheckName:   f.Rule,
			Fingerprint: hex.EncodeToString(sum[:]),
			Severity:    gitlabSeverity[f.Severity],
			Type:        "issue",
			Categories:  []string{"Style"},
		}
		issue.Location.Path = f.File
		issue.Location.Lines.Begin = f.Line
		out = append(out, issue)
	}
	return out
}
