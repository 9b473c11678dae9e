package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sample = `FROM debian
# hadolint ignore=DL3008, DL3015 # pinned by the base image
RUN apt-get install -y curl
RUN apt-get install -y git
`

func TestInlineIgnore(t *testing.T) {
	findings, err := Source("Dockerfile", strings.NewReader(sample), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var at []string
	for _, f := range findings {
		if f.Rule == "DL3008" || f.Rule == "DL3015" {
			at = append(at, f.Rule+"@"+string(rune('0'+f.Line)))
		}
	}
	// Line 3 is silenced; line 4 is not.
	if want := []string{"DL3008@4", "DL3015@4"}; !slices.Equal(at, want) {
		t.Errorf("findings %v, want %v", at, want)
	}

	findings, _ = Source("Dockerfile", strings.NewReader(sample), Config{DisableIgnorePragma: true})
	n := 0
	for _, f := range findings {
		if f.Rule == "DL3008" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("with disable-ignore-pragma: %d DL3008 findings, want 2", n)
	}
}

func TestGlobalIgnore(t *testing.T) {
	src := "# hadolint global ignore=DL3006,DL3059\nFROM debian\nRUN a\nRUN b\n"
	if ids := ruleIDs(t, src, Config{}); len(ids) != 0 {
		t.Errorf("findings %v, want none", ids)
	}
}

func TestConfigIgnoredAndOverride(t *testing.T) {
	cfg, err := ParseConfig([]byte("ignored: [DL3006]\noverride:\n  error: [DL3008]\nfailure-threshold: error\nformat: tty\n"))
	if err != nil {
		t.Fatal(err)
	}
	findings, err := Source("Dockerfile", strings.NewReader("FROM debian\nRUN apt-get install -y --no-install-recommends curl\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Rule != "DL3008" || findings[0].Severity != SeverityError {
		t.Fatalf("findings %+v, want only DL3008 as error", findings)
	}
	if !cfg.Fails(findings) {
		t.Error("an error finding does not fail at threshold error")
	}
}

func TestThreshold(t *testing.T) {
	info := []Finding{{Rule: "DL3059", Severity: SeverityInfo}}
	style := []Finding{{Rule: "DL3048", Severity: SeverityStyle}}
	cases := []struct {
		threshold Severity
		findings  []Finding
		fails     bool
	}{
		{severityUnset, info, true}, // hadolint's default threshold is info
		{severityUnset, style, false},
		{SeverityWarning, info, false},
		{SeverityStyle, style, true},
		{SeverityNone, []Finding{{Severity: SeverityError}}, false},
		{SeverityError, nil, false},
	}
	for _, c := range cases {
		if got := (Config{FailureThreshold: c.threshold}).Fails(c.findings); got != c.fails {
			t.Errorf("threshold %v, findings %v: fails = %v, want %v", c.threshold, c.findings, got, c.fails)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ yaml, want string }{
		{"ignored: [DL3006]\nfailure-treshold: error\n", ":2:1: unknown field \"failure-treshold\""},
		{"failure-threshold: loud\n", ":1:20: failure-threshold: unknown severity \"loud\""},
		{"ignored:\n  - DL3006\n  - nope\n", ":3:5: \"nope\" is not a rule id"},
		{"ignored: DL3006\n", ":1:10: want a list of strings"},
		{"override:\n  fatal: [DL3006]\n", ":2:3: override: unknown severity \"fatal\""},
		{"ignored: [\n", "yaml:"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, ".hadolint.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil || !strings.HasPrefix(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadConfig(%q) error = %v, want %s%s", c.yaml, err, path, c.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing config: error %v, want fs.ErrNotExist", err)
	}
}

func TestConfigTrustedRegistries(t *testing.T) {
	cfg, err := ParseConfig([]byte("trustedRegistries:\n  - docker.io\n  - my-company.com:5000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.TrustedRegistries, []string{"docker.io", "my-company.com:5000"}) {
		t.Errorf("trustedRegistries = %v", cfg.TrustedRegistries)
	}
}

func lintSample(t *testing.T) []Finding {
	t.Helper()
	findings, err := Source("build/Dockerfile", strings.NewReader("FROM debian:latest\nADD app /app\n"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	return findings
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "text", lintSample(t)); err != nil {
		t.Fatal(err)
	}
	want := "build/Dockerfile:1 DL3007 warning: Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag\n" +
		"build/Dockerfile:2 DL3020 error: Use COPY instead of ADD for files and folders\n"
	if b.String() != want {
		t.Errorf("text output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "json", lintSample(t)); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b.String(), err)
	}
	if len(got) != 2 || got[1]["code"] != "DL3020" || got[1]["level"] != "error" ||
		got[1]["line"] != 2.0 || got[1]["file"] != "build/Dockerfile" || got[1]["column"] != 1.0 {
		t.Errorf("JSON output %s", b.String())
	}
	b.Reset()
	_ = Write(&b, "json", nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no findings as JSON = %q, want []", b.String())
	}
}

// TestWriteGitLab checks the fields GitLab's Code Quality report requires.
func TestWriteGitLab(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "gitlab", lintSample(t)); err != nil {
		t.Fatal(err)
	}
	var issues []struct {
		Description *string `json:"description"`
		CheckName   *string `json:"check_name"`
		Fingerprint *string `json:"fingerprint"`
		Severity    *string `json:"severity"`
		Location    *struct {
			Path  *string `json:"path"`
			Lines *struct {
				Begin *int `json:"begin"`
			} `json:"lines"`
		} `json:"location"`
	}
	if err := json.Unmarshal(b.Bytes(), &issues); err != nil {
		t.Fatalf("invalid JSON %s: %v", b.String(), err)
	}
	if len(issues) != 2 {
		t.Fatalf("%d issues, want 2", len(issues))
	}
	levels := map[string]bool{"info": true, "minor": true, "major": true, "critical": true, "blocker": true}
	seen := map[string]bool{}
	for _, is := range issues {
		if is.Description == nil || is.CheckName == nil || is.Fingerprint == nil || is.Severity == nil ||
			is.Location == nil || is.Location.Path == nil || is.Location.Lines == nil || is.Location.Lines.Begin == nil {
			t.Fatalf("issue misses a required field: %s", b.String())
		}
		if !levels[*is.Severity] {
			t.Errorf("severity %q is not one of GitLab's", *is.Severity)
		}
		if seen[*is.Fingerprint] || len(*is.Fingerprint) != 64 {
			t.Errorf("fingerprint %q not unique or not a sha256", *is.Fingerprint)
		}
		seen[*is.Fingerprint] = true
	}
	if *issues[1].CheckName != "DL3020" || *issues[1].Severity != "blocker" || *issues[1].Location.Path != "build/Dockerfile" || *issues[1].Location.Lines.Begin != 2 {
		t.Errorf("second issue = %s", b.String())
	}
	var again bytes.Buffer
	_ = Write(&again, "gitlab", lintSample(t))
	if again.String() != b.String() {
		t.Error("fingerprints differ between two runs on the same file")
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "xml", nil); err == nil {
		t.Error("format xml accepted")
	}
}

func TestFileAnyName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "generated.dockerfile")
	if err := os.WriteFile(path, []byte("FROM alpine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	findings, err := File(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Rule != "DL3006" || findings[0].File != path {
		t.Errorf("findings %+v, want DL3006 in %s", findings, path)
	}
	if _, err := File(filepath.Join(t.TempDir(), "nope"), Config{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v", err)
	}
}

func FuzzLint(f *testing.F) {
	for _, c := range ruleCases {
		f.Add(c.bad)
		f.Add(c.good)
	}
	f.Add(sample)
	f.Add("# escape=`\nFROM a\nRUN x `\n  y\n")
	f.Add("FROM a\nRUN <<EOF\nEOF\n")
	f.Fuzz(func(t *testing.T, src string) {
		findings, err := Source("Dockerfile", strings.NewReader(src), Config{TrustedRegistries: []string{"docker.io"}})
		if err != nil {
			return
		}
		for _, f := range findings {
			if f.Line < 1 || f.Rule == "" || f.Message == "" {
				t.Fatalf("malformed finding %+v", f)
			}
		}
		_ = Write(&bytes.Buffer{}, "gitlab", findings)
	})
}

func TestStyleFindingAndThreshold(t *testing.T) {
	findings, err := Source("Dockerfile", strings.NewReader("FROM a:1\nLABEL Version=1\n"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Rule != "DL3048" || findings[0].Severity != SeverityStyle {
		t.Fatalf("findings %+v, want one DL3048 style finding", findings)
	}
	if (Config{}).Fails(findings) {
		t.Error("a style finding fails at the default threshold (info)")
	}
	if !(Config{FailureThreshold: SeverityStyle}).Fails(findings) {
		t.Error("a style finding does not fail at threshold style")
	}
}
