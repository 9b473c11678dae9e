// Package yamlsyntax places a YAML syntax error at its line and column.
// Slipway decodes YAML with yaml.v3, whose syntax errors name a line at
// most ("yaml: line 3: did not find expected ',' or ']'"); the parser of
// yaml v4, the same library's next version, keeps the column of the
// problem and of the construct it was reading, so the text is parsed
// again with it to find them.
package yamlsyntax

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml4 "go.yaml.in/yaml/v4"
)

// Error is a syntax error with its position; Line is 0 when even v4 does
// not know it.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

// Locate parses data with yaml v4 and returns its first syntax error,
// placed; v3Err, the error yaml.v3 gave, is the fallback when v4 finds
// none or cannot place it.
func Locate(data []byte, v3Err error) *Error {
	var n yaml4.Node
	err := yaml4.Unmarshal(data, &n)
	if err == nil {
		return fromV3(v3Err)
	}
	problem, ok := marked(err, "Mark", "Message")
	if !ok || problem.Line == 0 {
		return fromV3(v3Err)
	}
	if ctx, ok := marked(err, "ContextMark", "ContextMessage"); ok && ctx.Msg != "" && ctx.Line != 0 && (ctx.Line != problem.Line || ctx.Col != problem.Col) {
		// "while parsing a flow sequence" -> "in a flow sequence"
		what := "in " + strings.TrimPrefix(strings.TrimPrefix(ctx.Msg, "while parsing "), "while scanning ")
		problem.Msg += fmt.Sprintf(" (%s that starts at %d:%d)", what, ctx.Line, ctx.Col)
	}
	return problem
}

// marked reads a mark and its message from a v4 syntax error. Its types
// live in an internal package, so they are read by reflection, by name;
// each counts differently: a ScannerError's line is 1-based and its
// column 0-based, a ParserError's both 0-based, and the composer's
// *ParserError carries a node's 1-based line and column.
func marked(err error, markField, msgField string) (*Error, bool) {
	v := reflect.ValueOf(err)
	pointer := v.Kind() == reflect.Pointer
	if pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, false
	}
	name := v.Type().Name()
	if name != "ScannerError" && name != "ParserError" {
		return nil, false
	}
	m, msg := v.FieldByName(markField), v.FieldByName(msgField)
	if !m.IsValid() || !msg.IsValid() || msg.Kind() != reflect.String {
		return nil, false
	}
	line, col := int(m.FieldByName("Line").Int()), int(m.FieldByName("Column").Int())
	switch {
	case name == "ParserError" && !pointer:
		line, col = line+1, col+1 // 0:0 is the text's start
	case line == 0:
		return &Error{Msg: msg.String()}, true // no position
	case name == "ScannerError":
		col++
	}
	return &Error{Line: line, Col: col, Msg: msg.String()}, true
}

// v3Line is yaml.v3's "line 3: message".
var v3Line = regexp.MustCompile(`^line (\d+): (.*)$`)

// fromV3 keeps what yaml.v3 said: "yaml: line 3: msg" is placed at the
// line's first column.
func fromV3(err error) *Error {
	if err == nil {
		return &Error{Msg: "invalid YAML"}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := v3Line.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Col: 1, Msg: m[2]}
	}
	return &Error{Msg: msg}
}

// InFile is the syntax error yaml.v3 gave for file's data, as
// file:line:col: invalid YAML: message.
func InFile(file string, data []byte, v3Err error) error {
	e := Locate(data, v3Err)
	if e.Line == 0 {
		return fmt.Errorf("%s: invalid YAML: %s", file, e.Msg)
	}
	return fmt.Errorf("%s:%d:%d: invalid YAML: %s", file, e.Line, e.Col, e.Msg)
}
