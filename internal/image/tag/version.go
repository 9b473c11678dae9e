package tag

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Version is a project version read from a version file.
type Version struct {
	Semver *semver.Version
	// Raw is the version as written in the file.
	Raw string
	// Snapshot is set for Maven's "-SNAPSHOT" versions; Semver holds the
	// version without that suffix (3.0.0-SNAPSHOT gives 3.0.0), which is
	// what the seed's "3.0.0-nightly" tags are made of.
	Snapshot bool
	// File, Line and Column say where the version was found.
	File         string
	Line, Column int
}

// Tag is the version as it appears in a tag: canonical semver ("v1.2"
// gives "1.2.0"), with "+" (build metadata, not allowed in a tag) as "_",
// the convention Helm and others use.
func (v *Version) Tag() string {
	return strings.ReplaceAll(v.Semver.String(), "+", "_")
}

// snapshotSuffix marks a Maven development version.
const snapshotSuffix = "-SNAPSHOT"

// ReadVersion reads the version of a project from path, by its file name:
// pom.xml (project/version, else project/parent/version; ${property}
// references to project/properties resolved), package.json (version),
// Chart.yaml (version), Cargo.toml ([package] version), pyproject.toml
// ([project] or [tool.poetry] version); any other file (VERSION,
// version.txt...) holds the version on its first non-empty line.
// Errors name the file, and the line and column when there is one.
func ReadVersion(path string) (*Version, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("version file: %w", err)
	}
	var raw string
	var line, col int
	switch base := filepath.Base(path); {
	case base == "pom.xml" || strings.HasSuffix(base, ".pom"):
		raw, line, col, err = pomVersion(data)
	case base == "package.json" || base == "composer.json":
		raw, line, col, err = jsonVersion(data)
	case base == "Chart.yaml" || base == "Chart.yml":
		raw, line, col, err = yamlVersion(data)
	case base == "Cargo.toml":
		raw, line, col, err = tomlVersion(data, "package", "workspace.package")
	case base == "pyproject.toml":
		raw, line, col, err = tomlVersion(data, "project", "tool.poetry")
	default:
		raw, line, col, err = plainVersion(data)
	}
	var pe *posError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s:%d:%d: %w", path, pe.line, pe.col, pe.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := parseVersion(raw)
	if err != nil {
		return nil, fmt.Errorf("%s:%d:%d: %w", path, line, col, err)
	}
	v.File, v.Line, v.Column = path, line, col
	return v, nil
}

// parseVersion validates raw as semver, handling Maven's -SNAPSHOT.
func parseVersion(raw string) (*Version, error) {
	v := &Version{Raw: raw}
	s := raw
	if strings.HasSuffix(strings.ToUpper(s), snapshotSuffix) {
		v.Snapshot = true
		s = s[:len(s)-len(snapshotSuffix)]
	}
	sv, err := semver.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("version %q is not semver: %w", raw, err)
	}
	v.Semver = sv
	return v, nil
}

// pomVersion finds project/version or project/parent/version, resolving a
// ${name} reference to project/properties/name (Maven's CI-friendly
// versions use ${revision}).
func pomVersion(data []byte) (string, int, int, error) {
	type found struct {
		text      string
		line, col int
	}
	var own, parent *found
	props := map[string]found{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var path []string
	for {
		line, col := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, col := dec.InputPos()
			return "", 0, 0, posErr(line, col, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
		case xml.EndElement:
			path = path[:len(path)-1]
		case xml.CharData:
			text := strings.TrimSpace(string(t))
			if text == "" {
				continue
			}
			// Point at the text itself, not at the whitespace before it.
			lead := string(t)[:strings.Index(string(t), text)]
			line, col = advance(line, col, lead)
			p := strings.Join(path, "/")
			f := &found{text, line, col}
			switch {
			case p == "project/version":
				own = f
			case p == "project/parent/version":
				parent = f
			case len(path) == 3 && path[0] == "project" && path[1] == "properties":
				props[path[2]] = *f
			}
		}
	}
	v := own
	if v == nil {
		v = parent
	}
	if v == nil {
		return "", 0, 0, errors.New("no <version> in <project> nor in <project><parent>")
	}
	if strings.HasPrefix(v.text, "${") && strings.HasSuffix(v.text, "}") {
		name := v.text[2 : len(v.text)-1]
		p, ok := props[name]
		if !ok {
			return "", 0, 0, posErr(v.line, v.col, fmt.Errorf("version %s refers to property %q, which <properties> does not define", v.text, name))
		}
		return p.text, p.line, p.col, nil
	}
	return v.text, v.line, v.col, nil
}

// advance moves a line:column position over s.
func advance(line, col int, s string) (int, int) {
	for _, r := range s {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonVersion reads the top-level "version" string of a JSON object.
func jsonVersion(data []byte) (string, int, int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	fail := func(err error) (string, int, int, error) {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := advance(1, 1, string(data[:se.Offset]))
			return "", 0, 0, posErr(line, col, err)
		}
		return "", 0, 0, err
	}
	tok, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", 0, 0, posErr(1, 1, errors.New("the file is not a JSON object"))
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fail(err)
		}
		if key != "version" {
			continue
		}
		end := int(dec.InputOffset())
		start := end - len(val)
		line, col := advance(1, 1, string(data[:start]))
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return "", 0, 0, posErr(line, col, fmt.Errorf("\"version\" must be a string, not %s", val))
		}
		return s, line, col + 1, nil // +1: the opening quote
	}
	return "", 0, 0, errors.New("no top-level \"version\"")
}

// yamlVersion reads the top-level version of a YAML mapping (Chart.yaml).
func yamlVersion(data []byte) (string, int, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if e := yamlsyntax.Locate(data, err); e.Line > 0 {
			return "", 0, 0, posErr(e.Line, e.Col, fmt.Errorf("invalid YAML: %s", e.Msg))
		}
		return "", 0, 0, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", 0, 0, errors.New("the file is not a YAML mapping")
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "version" {
			continue
		}
		v := m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return "", 0, 0, posErr(v.Line, v.Column, errors.New("version must be a string"))
		}
		return v.Value, v.Line, v.Column, nil
	}
	return "", 0, 0, errors.New("no top-level version")
}

// tomlVersion reads `version = "..."` from the first of tables that has
// it. It understands only what version lines need: table headers, bare
// keys and basic or literal strings.
func tomlVersion(data []byte, tables ...string) (string, int, int, error) {
	type hit struct {
		val       string
		line, col int
	}
	found := map[string]hit{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		if strings.HasPrefix(trimmed, "[") {
			table = strings.TrimSpace(strings.Trim(trimmed, "[]"))
			continue
		}
		key, val, ok := strings.Cut(trimmed, "=")
		if !ok || strings.TrimSpace(key) != "version" {
			if ok && strings.TrimSpace(key) == "version.workspace" {
				found[table] = hit{"", n, 1}
			}
			continue
		}
		val = strings.TrimSpace(val)
		col := strings.Index(text, val) + 2
		if len(val) < 2 || (val[0] != '"' && val[0] != '\'') || strings.LastIndexByte(val, val[0]) == 0 {
			return "", 0, 0, posErr(n, col-1, errors.New("version must be a quoted string"))
		}
		found[table] = hit{val[1:strings.LastIndexByte(val, val[0])], n, col}
	}
	for _, t := range tables {
		if h, ok := found[t]; ok {
			if h.val == "" {
				return "", 0, 0, posErr(h.line, h.col, fmt.Errorf("[%s] takes its version from the workspace; give the workspace's Cargo.toml as version file", t))
			}
			return h.val, h.line, h.col, nil
		}
	}
	return "", 0, 0, fmt.Errorf("no version in [%s]", strings.Join(tables, "] nor ["))
}

// plainVersion reads the first non-empty line.
func plainVersion(data []byte) (string, int, int, error) {
	for n, l := range strings.Split(string(data), "\n") {
		if s := strings.TrimSpace(l); s != "" {
			return s, n + 1, strings.Index(l, s) + 1, nil
		}
	}
	return "", 0, 0, errors.New("the file is empty")
}

// posError is an error at a line and column of the version file.
type posError struct {
	line, col int
	err       error
}

func (e *posError) Error() string { return fmt.Sprintf("%d:%d: %v", e.line, e.col, e.err) }

func (e *posError) Unwrap() error { return e.err }

func posErr(line, col int, err error) error { return &posError{line, col, err} }
