package expand

import "fmt"

// MaxValue is the most bytes a variable may expand to: Linux refuses to
// start a process with a longer environment string (MAX_ARG_STRLEN), and it
// bounds the memory a few bytes of nested references can ask for
// (A=xxxx, B=$A$A$A$A, C=$B$B$B$B, ...).
const MaxValue = 128 << 10

// TooLongError says which variable expands past MaxValue.
type TooLongError struct{ Name string }

func (e *TooLongError) Error() string {
	return fmt.Sprintf("variable %s expands to more than %d KiB; nested references of this size are refused", e.Name, MaxValue>>10)
}

// Def is one variable definition. Raw values are taken as written, without
// expansion (GitLab's `expand: false`).
type Def struct {
	Name, Value string
	Raw         bool
}

// KV is a variable with its final value.
type KV struct{ Name, Value string }

// Resolve returns the final value of every variable defined in defs, in the
// order each name was first defined. A later definition of a name replaces
// the earlier one. Values may refer to each other in any order and through
// any number of steps (A=$B, B=${C}x, C=1 gives A=1x); names that defs does
// not define come from base. References that close a cycle (A=$B, B=$A, or
// PATH=$PATH:/bin) are left as written, so a shell may still expand them.
// A value that would expand past MaxValue is a *TooLongError.
func Resolve(defs []Def, base Lookup) ([]KV, error) {
	last := make(map[string]Def, len(defs))
	var order []string
	for _, d := range defs {
		if _, seen := last[d.Name]; !seen {
			order = append(order, d.Name)
		}
		last[d.Name] = d
	}

	r := resolver{defs: last, base: base, done: make(map[string]string, len(last))}
	r.comp = components(order, func(name string) []string {
		d := last[name]
		if d.Raw {
			return nil
		}
		var out []string
		for _, ref := range References(d.Value) {
			if _, ok := last[ref]; ok {
				out = append(out, ref)
			}
		}
		return out
	})

	kvs := make([]KV, 0, len(order))
	for _, name := range order {
		v, ok := r.value(name)
		if !ok {
			return nil, &TooLongError{Name: r.tooLong}
		}
		kvs = append(kvs, KV{Name: name, Value: v})
	}
	return kvs, nil
}

type resolver struct {
	defs map[string]Def
	base Lookup
	comp map[string]int // strongly connected component of each name
	done map[string]string
	// tooLong is the first variable found to expand past MaxValue.
	tooLong string
}

// value returns the final value of a defined name, or false when it (or a
// value it refers to) expands past MaxValue. References inside the name's
// own strongly connected component are cycles and stay as written; the
// others point to earlier components, so the recursion ends.
func (r *resolver) value(name string) (string, bool) {
	if v, ok := r.done[name]; ok {
		return v, true
	}
	if r.tooLong != "" {
		return "", false
	}
	d := r.defs[name]
	v := d.Value
	if !d.Raw {
		var ok bool
		v, ok = expandMax(d.Value, MaxValue, func(ref, written string) (string, bool) {
			if _, ok := r.defs[ref]; ok {
				if r.comp[ref] == r.comp[name] {
					return written, true
				}
				return r.value(ref)
			}
			if r.base == nil {
				return "", true
			}
			bv, _ := r.base(ref)
			return bv, true
		})
		if !ok {
			if r.tooLong == "" {
				r.tooLong = name
			}
			return "", false
		}
	}
	r.done[name] = v
	return v, true
}

// components numbers the strongly connected components of the graph given
// by edges (Tarjan's algorithm). Two names share a number exactly when each
// reaches the other; a name with an edge to itself is alone in its own.
func components(nodes []string, edges func(string) []string) map[string]int {
	var (
		index   = map[string]int{}
		low     = map[string]int{}
		onStack = map[string]bool{}
		stack   []string
		comp    = make(map[string]int, len(nodes))
		next    int
		ncomp   int
	)
	var visit func(string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges(v) {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for _, v := range nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return comp
}
