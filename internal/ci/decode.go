package ci

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder turns nodes into typed values, collecting errors that name the
// field ("job build: retry:max ...") and its position.
type decoder struct{ errs *errs }

func (d decoder) bad(n *node, field, want string) {
	d.errs.add(n.pos, fmt.Sprintf("%s should be %s, not %s", field, want, n.kind))
}

func (d decoder) str(n *node, field string) string {
	if n == nil || n.kind == nullNode {
		return ""
	}
	if n.kind != scalarNode {
		d.bad(n, field, "a string")
		return ""
	}
	return n.value
}

func (d decoder) boolean(n *node, field string) bool {
	if n == nil || n.kind == nullNode {
		return false
	}
	if n.kind == scalarNode {
		switch n.value {
		case "true":
			return true
		case "false":
			return false
		}
	}
	d.errs.add(n.pos, fmt.Sprintf("%s should be true or false", field))
	return false
}

func (d decoder) integer(n *node, field string) int {
	if n == nil || n.kind == nullNode {
		return 0
	}
	if n.kind == scalarNode {
		if v, err := strconv.Atoi(n.value); err == nil {
			return v
		}
	}
	d.errs.add(n.pos, fmt.Sprintf("%s should be a whole number", field))
	return 0
}

// strings accepts a string or an array of strings.
func (d decoder) strings(n *node, field string) []string {
	if n == nil || n.kind == nullNode {
		return nil
	}
	switch n.kind {
	case scalarNode:
		return []string{n.value}
	case seqNode:
		out := make([]string, 0, len(n.items))
		for _, it := range n.items {
			if it.kind != scalarNode {
				d.bad(it, field+" entries", "strings")
				continue
			}
			out = append(out, it.value)
		}
		return out
	}
	d.bad(n, field, "a string or an array of strings")
	return nil
}

// script accepts a string or an array of strings and nested arrays, which
// GitLab flattens (they come from anchors and !reference).
func (d decoder) script(n *node, field string) []string {
	if n == nil || n.kind == nullNode {
		return nil
	}
	var out []string
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		switch {
		case n.kind == scalarNode:
			out = append(out, n.value)
		case n.kind == seqNode && depth < 10:
			for _, it := range n.items {
				walk(it, depth+1)
			}
		case n.kind == nullNode:
		default:
			d.bad(n, field, "a string or an array of strings")
		}
	}
	walk(n, 0)
	if out == nil {
		out = []string{}
	}
	return out
}

func (d decoder) duration(n *node, field string) time.Duration {
	s := d.str(n, field)
	if s == "" {
		return 0
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errs.add(n.pos, fmt.Sprintf("%s: %v", field, err))
	}
	return v
}

// keys checks a hash's keys against the known ones.
func (d decoder) keys(n *node, field string, known []string) bool {
	if n.kind != mapNode {
		d.bad(n, field, "a hash")
		return false
	}
	for _, k := range n.keys {
		if !slices.Contains(known, k.value) {
			msg := fmt.Sprintf("%s: unknown keyword %q", field, k.value)
			if s := didYouMean(k.value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errs.add(k.pos, msg)
		}
	}
	return true
}

func (d decoder) variables(n *node, field string) Variables {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind != mapNode {
		d.bad(n, field, "a hash")
		return nil
	}
	out := make(Variables, 0, len(n.keys))
	for i, k := range n.keys {
		v := n.vals[i]
		variable := Variable{Name: k.value, Pos: k.pos}
		if !validVarName.MatchString(k.value) {
			d.errs.add(k.pos, fmt.Sprintf("%s: %q is not a valid variable name (letters, digits and _ only)", field, k.value))
		}
		switch v.kind {
		case scalarNode:
			variable.Value = v.value
		case nullNode:
		case mapNode:
			name := field + ":" + k.value
			d.keys(v, name, []string{"value", "description", "expand", "options"})
			variable.Value = d.str(v.get("value"), name+":value")
			variable.Description = d.str(v.get("description"), name+":description")
			if e := v.get("expand"); e != nil {
				variable.Raw = !d.boolean(e, name+":expand")
			}
			if o := v.get("options"); o != nil {
				opts := d.strings(o, name+":options")
				if len(opts) > 0 && !slices.Contains(opts, variable.Value) {
					d.errs.add(o.pos, fmt.Sprintf("%s: value %q is not one of the options", name, variable.Value))
				}
			}
		default:
			d.bad(v, field+":"+k.value, "a string or a hash with value")
		}
		out = append(out, variable)
	}
	return out
}

var validVarName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (d decoder) when(n *node, field string, allowed ...When) When {
	s := d.str(n, field)
	if s == "" {
		return ""
	}
	for _, w := range allowed {
		if string(w) == s {
			return w
		}
	}
	names := make([]string, len(allowed))
	for i, w := range allowed {
		names[i] = string(w)
	}
	d.errs.add(n.pos, fmt.Sprintf("%s: unknown value %q (one of %s)", field, s, strings.Join(names, ", ")))
	return ""
}

// ParseDuration reads GitLab's human durations: "3600", "1h 30m",
// "2 hours and 10 minutes", "1 day", "30s".
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	found := false
	for _, m := range durationPart.FindAllStringSubmatchIndex(s, -1) {
		num, unit := s[m[2]:m[3]], s[m[4]:m[5]]
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", orig)
		}
		u, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("bad duration %q: unknown unit %q", orig, unit)
		}
		total += time.Duration(f * float64(u))
		found = true
	}
	rest := durationPart.ReplaceAllString(s, "")
	rest = strings.NewReplacer("and", "", ",", "", " ", "").Replace(rest)
	if !found || rest != "" {
		return 0, fmt.Errorf("bad duration %q (try \"1h 30m\" or \"90 minutes\")", orig)
	}
	return total, nil
}

var durationPart = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*([a-z]+)`)

var durationUnits = map[string]time.Duration{}

func init() {
	add := func(d time.Duration, names ...string) {
		for _, n := range names {
			durationUnits[n] = d
		}
	}
	add(time.Second, "s", "sec", "secs", "second", "seconds")
	add(time.Minute, "m", "min", "mins", "minute", "minutes")
	add(time.Hour, "h", "hr", "hrs", "hour", "hours")
	add(24*time.Hour, "d", "day", "days")
	add(7*24*time.Hour, "w", "wk", "wks", "week", "weeks")
	add(30*24*time.Hour, "mo", "mos", "month", "months")
	add(365*24*time.Hour, "y", "yr", "yrs", "year", "years")
}
