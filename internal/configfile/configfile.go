// Package configfile decodes a YAML configuration file into a struct and
// reports every problem as file:line:col: message: an unknown key (with
// the closest known one), a key given twice, a value of the wrong kind.
package configfile

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/ci"
)

// Load reads the file at path into v, a pointer to a struct.
func Load(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Decode(path, data, v)
}

// Decode decodes data, the content of file, into v, a pointer to a
// struct; keys are the fields' yaml tags. The error is a ci.ErrorList.
func Decode(file string, data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return ci.ErrorList{ci.Errors(ci.YAMLError(file, data, err))[0]}
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	d := &decoder{file: file}
	d.check(doc.Content[0], reflect.TypeOf(v).Elem(), "")
	if len(d.errs) > 0 {
		return d.errs
	}
	if err := doc.Content[0].Decode(v); err != nil {
		return ci.ErrorList{{Pos: ci.Pos{File: file}, Msg: err.Error()}}
	}
	return nil
}

type decoder struct {
	file string
	errs ci.ErrorList
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	d.errs = append(d.errs, &ci.Error{Pos: ci.Pos{File: d.file, Line: n.Line, Col: n.Column}, Msg: msg})
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// check walks n along type t; field is n's dotted path.
func (d *decoder) check(n *yaml.Node, t reflect.Type, field string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return // leaves the field as it is
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshaler):
		d.custom(n, t, field)
	case t.Kind() == reflect.Pointer:
		d.check(n, t.Elem(), field)
	case t.Kind() == reflect.Struct:
		d.mapping(n, t, field)
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			d.check(item, t.Elem(), fmt.Sprintf("%s[%d]", field, i))
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.check(n.Content[i+1], t.Elem(), join(field, n.Content[i].Value))
		}
	default:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			d.errorf(n, field, "want %s, got %s", want(t), got(n))
		}
	}
}

// mapping checks the keys of a struct's mapping and their values.
func (d *decoder) mapping(n *yaml.Node, t reflect.Type, field string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping of keys, got %s", got(n))
		return
	}
	fields := keys(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := join(field, k.Value)
		if seen[k.Value] {
			d.errorf(k, path, "given twice")
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			d.unknown(k, field, fields)
			continue
		}
		d.check(v, f, path)
	}
}

func (d *decoder) unknown(k *yaml.Node, field string, fields map[string]reflect.Type) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if s := ci.DidYouMean(k.Value, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", join(field, s))
	}
	d.errorf(k, field, "%s", msg)
}

// lineCol is the position an Unmarshaler may start its error with.
var lineCol = regexp.MustCompile(`^(\d+):(\d+): `)

// custom decodes a type with its own UnmarshalYAML; an error of it that
// starts with line:col keeps that position.
func (d *decoder) custom(n *yaml.Node, t reflect.Type, field string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	for _, msg := range strings.Split(err.Error(), "\n") {
		at, name := n, field
		if m := lineCol.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			// Such an error names its field itself.
			at, name, msg = &yaml.Node{Line: line, Column: col}, "", msg[len(m[0]):]
		}
		d.errorf(at, name, "%s", msg)
	}
}

// keys are the YAML keys of a struct's fields, inline ones included.
func keys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case strings.Contains(opts, "inline"):
			for k, v := range keys(f.Type) {
				out[k] = v
			}
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// want names what a value of type t looks like.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 30s, 5m or 1h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// got describes a node for an error.
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}
