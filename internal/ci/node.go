package ci

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// node is the YAML tree after aliases and merge keys are resolved, with a
// position on every value. Includes, !reference and extends work on nodes;
// decoding turns them into typed structs once, at the end.
type node struct {
	kind   nodeKind
	tag    string // explicit tags only ("!reference")
	value  string // scalars
	quoted bool   // a scalar written in quotes
	keys   []*node
	vals   []*node // mapping values, parallel to keys
	items  []*node // sequence items
	pos    Pos
}

type nodeKind int

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

func (k nodeKind) String() string {
	switch k {
	case scalarNode:
		return "a string"
	case mapNode:
		return "a hash"
	case seqNode:
		return "an array"
	}
	return "null"
}

// get returns the value of key in a mapping node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != mapNode {
		return nil
	}
	for i, k := range n.keys {
		if k.value == key {
			return n.vals[i]
		}
	}
	return nil
}

// set replaces or appends key in a mapping node.
func (n *node) set(key *node, val *node) {
	for i, k := range n.keys {
		if k.value == key.value {
			n.vals[i] = val
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, val)
}

// without returns a shallow copy of a mapping without the given keys.
func (n *node) without(drop ...string) *node {
	out := &node{kind: mapNode, pos: n.pos}
	for i, k := range n.keys {
		skip := false
		for _, d := range drop {
			if k.value == d {
				skip = true
			}
		}
		if !skip {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, n.vals[i])
		}
	}
	return out
}

// parseYAML reads a pipeline file into a node tree. A file may start with
// a `spec:` header document (inputs of CI/CD components); the
// configuration is then the document after it.
func parseYAML(file string, data []byte) (*node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &node{kind: mapNode, pos: Pos{File: file, Line: 1, Col: 1}}, nil
		}
		return nil, yamlError(file, data, err)
	}
	if isSpecHeader(&doc) {
		var next yaml.Node
		if err := dec.Decode(&next); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(file, data, err)
		}
		doc = next
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &node{kind: mapNode, pos: Pos{File: file, Line: 1, Col: 1}}, nil
	}
	c := converter{file: file, budget: new(int)}
	*c.budget = maxNodes
	return c.convert(doc.Content[0], 0)
}

// isSpecHeader reports whether a document is only a `spec:` header.
func isSpecHeader(doc *yaml.Node) bool {
	if len(doc.Content) != 1 {
		return false
	}
	m := doc.Content[0]
	return m.Kind == yaml.MappingNode && len(m.Content) == 2 && m.Content[0].Value == "spec"
}

// maxNodes bounds the tree aliases may expand to ("billion laughs").
const maxNodes = 1 << 20

type converter struct {
	file   string
	budget *int
}

func (c converter) pos(n *yaml.Node) Pos { return Pos{File: c.file, Line: n.Line, Col: n.Column} }

// convert resolves aliases and merge keys; depth guards alias bombs.
func (c converter) convert(n *yaml.Node, depth int) (*node, error) {
	if depth > 200 {
		return nil, &Error{Pos: c.pos(n), Msg: "nesting too deep (recursive anchors?)"}
	}
	if *c.budget--; *c.budget < 0 {
		return nil, &Error{Pos: c.pos(n), Msg: "the file expands to too many values (aliases of aliases?)"}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.convert(n.Alias, depth+1)
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return &node{kind: nullNode, pos: c.pos(n)}, nil
		}
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		return &node{kind: scalarNode, value: n.Value, quoted: quoted, tag: customTag(n.Tag), pos: c.pos(n)}, nil
	case yaml.SequenceNode:
		out := &node{kind: seqNode, tag: customTag(n.Tag), pos: c.pos(n)}
		for _, it := range n.Content {
			v, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := &node{kind: mapNode, tag: customTag(n.Tag), pos: c.pos(n)}
		var merges []*node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
				m, err := c.convert(v, depth+1)
				if err != nil {
					return nil, err
				}
				merges = append(merges, m)
				continue
			}
			key, err := c.convert(k, depth+1)
			if err != nil {
				return nil, err
			}
			if key.kind != scalarNode {
				return nil, &Error{Pos: key.pos, Msg: "a key must be a string"}
			}
			if out.get(key.value) != nil {
				return nil, &Error{Pos: key.pos, Msg: fmt.Sprintf("duplicate key %q", key.value)}
			}
			val, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			out.keys = append(out.keys, key)
			out.vals = append(out.vals, val)
		}
		// Merge keys: explicit keys win, earlier merged maps win over later.
		for _, m := range merges {
			srcs := []*node{m}
			if m.kind == seqNode {
				srcs = m.items
			}
			for _, s := range srcs {
				if s.kind != mapNode {
					return nil, &Error{Pos: s.pos, Msg: "a merge key (<<) takes a hash or a list of hashes"}
				}
				for i, k := range s.keys {
					if out.get(k.value) == nil {
						out.keys = append(out.keys, k)
						out.vals = append(out.vals, s.vals[i])
					}
				}
			}
		}
		return out, nil
	}
	return &node{kind: nullNode, pos: c.pos(n)}, nil
}

func customTag(t string) string {
	if strings.HasPrefix(t, "!!") || t == "!" {
		return ""
	}
	return t
}

// deepMerge merges over onto base: hashes merge key by key, everything else
// (arrays included) is replaced by over. Neither input is changed.
func deepMerge(base, over *node) *node {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	if base.kind != mapNode || over.kind != mapNode || over.tag != "" {
		return over
	}
	out := &node{kind: mapNode, pos: over.pos}
	out.keys = append(out.keys, base.keys...)
	out.vals = append(out.vals, base.vals...)
	for i, k := range over.keys {
		if b := out.get(k.value); b != nil {
			out.set(k, deepMerge(b, over.vals[i]))
		} else {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, over.vals[i])
		}
	}
	return out
}

// yamlError turns a yaml.v3 syntax error into one with the file, line
// and column (yamlsyntax finds the column yaml.v3 does not give).
func yamlError(file string, data []byte, err error) error {
	e := yamlsyntax.Locate(data, err)
	return &Error{Pos: Pos{File: file, Line: e.Line, Col: e.Col}, Msg: "invalid YAML: " + e.Msg}
}
