package ci

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/ci/expr"
)

// Context is what one pipeline runs for: its predefined variables and
// what the rules' `changes` and `exists` look at.
type Context struct {
	// Predefined are CI_COMMIT_SHA, CI_PIPELINE_SOURCE and the like.
	Predefined Variables
	// Run are variables given for this run (CLI, API, schedule, trigger);
	// they win over every variable of the file.
	Run Variables
	// Files lists the commit's files, for rules:exists.
	Files []string
	// Changed lists the files the push or merge request changed. When
	// ChangesKnown is false (a new branch, a schedule, a local run without
	// a base) every `changes` matches, as in GitLab.
	Changed      []string
	ChangesKnown bool
	// CompareTo lists the files changed against a ref, for
	// rules:changes:compare_to; nil makes such rules match.
	CompareTo func(ref string) ([]string, error)
}

// lookup is a resolved variable set for expressions and globs.
type lookup map[string]string

func (l lookup) get(name string) (string, bool) {
	v, ok := l[name]
	return v, ok
}

func resolveVars(layers ...Variables) (lookup, error) {
	var all Variables
	for _, l := range layers {
		all = all.With(l)
	}
	defs := make([]expand.Def, len(all))
	for i, v := range all {
		defs[i] = expand.Def{Name: v.Name, Value: v.Value, Raw: v.Raw}
	}
	kvs, err := expand.Resolve(defs, nil)
	var tooLong *expand.TooLongError
	if errors.As(err, &tooLong) {
		for _, v := range all {
			if v.Name == tooLong.Name {
				return nil, &Error{Pos: v.Pos, Msg: err.Error()}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	out := make(lookup, len(kvs))
	for _, kv := range kvs {
		out[kv.Name] = kv.Value
	}
	return out, nil
}

// ruleResult is the outcome of evaluating `rules:` for one job.
type ruleResult struct {
	rule    *Rule // the matching rule; nil when none matched
	matched bool
}

// evalRules returns the first rule that matches.
func evalRules(rules []Rule, vars lookup, ctx *Context, where string) (ruleResult, error) {
	for i := range rules {
		r := &rules[i]
		ok, err := ruleMatches(r, vars, ctx)
		if err != nil {
			return ruleResult{}, fmt.Errorf("%s: %s: rules[%d]: %w", r.Pos, where, i, err)
		}
		if ok {
			return ruleResult{rule: r, matched: true}, nil
		}
	}
	return ruleResult{}, nil
}

func ruleMatches(r *Rule, vars lookup, ctx *Context) (bool, error) {
	if r.If != "" {
		e, err := expr.Parse(r.If)
		if err != nil {
			return false, fmt.Errorf("if: %w", err)
		}
		// An expression that fails to evaluate (a bad pattern in a
		// variable) does not match, as in GitLab.
		if ok, err := e.Eval(vars.get); err != nil || !ok {
			return false, nil
		}
	}
	if r.Changes != nil {
		ok, err := changesMatch(r.Changes, r.CompareTo, vars, ctx)
		if err != nil || !ok {
			return false, err
		}
	}
	if r.Exists != nil && !existsMatch(r.Exists, vars, ctx) {
		return false, nil
	}
	return true, nil
}

func changesMatch(patterns []string, compareTo string, vars lookup, ctx *Context) (bool, error) {
	changed, known := ctx.Changed, ctx.ChangesKnown
	if compareTo != "" {
		if ctx.CompareTo == nil {
			return true, nil
		}
		var err error
		changed, err = ctx.CompareTo(expand.Expand(compareTo, vars.get))
		if err != nil {
			return false, fmt.Errorf("changes:compare_to %s: %w", compareTo, err)
		}
		known = true
	}
	if !known {
		return true, nil
	}
	return anyGlobMatches(patterns, changed, vars), nil
}

func existsMatch(patterns []string, vars lookup, ctx *Context) bool {
	return anyGlobMatches(patterns, ctx.Files, vars)
}

func anyGlobMatches(patterns, files []string, vars lookup) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(expand.Expand(p, vars.get), "/")
		for _, f := range files {
			if ok, _ := doublestar.Match(p, f); ok {
				return true
			}
		}
	}
	return false
}

// refFilterMatches evaluates an only/except filter.
func refFilterMatches(f *RefFilter, vars lookup, ctx *Context) (bool, error) {
	if len(f.Refs) > 0 {
		ok, err := refsMatch(f.Refs, vars)
		if err != nil || !ok {
			return false, err
		}
	}
	if len(f.Variables) > 0 {
		any := false
		for _, s := range f.Variables {
			e, err := expr.Parse(s)
			if err != nil {
				return false, fmt.Errorf("variables: %w", err)
			}
			if ok, err := e.Eval(vars.get); err == nil && ok {
				any = true
				break
			}
		}
		if !any {
			return false, nil
		}
	}
	if f.Changes != nil {
		return changesMatch(f.Changes, "", vars, ctx)
	}
	return true, nil
}

// refsMatch applies only/except refs: keywords, /regexes/ and names.
func refsMatch(refs []string, vars lookup) (bool, error) {
	source := vars["CI_PIPELINE_SOURCE"]
	mr := source == "merge_request_event"
	branch, isBranch := vars["CI_COMMIT_BRANCH"]
	tag, isTag := vars["CI_COMMIT_TAG"]
	for _, r := range refs {
		r, _, _ = strings.Cut(r, "@") // ref@namespace/project: the project part is ours
		switch r {
		case "branches":
			if isBranch && !mr {
				return true, nil
			}
		case "tags":
			if isTag {
				return true, nil
			}
		case "merge_requests":
			if mr {
				return true, nil
			}
		case "schedules", "web", "api", "chat", "external", "external_pull_requests":
			if source == strings.TrimSuffix(r, "s") || source == r {
				return true, nil
			}
		case "pushes":
			if source == "push" {
				return true, nil
			}
		case "triggers":
			if source == "trigger" {
				return true, nil
			}
		case "pipelines":
			if source == "pipeline" || source == "parent_pipeline" {
				return true, nil
			}
		default:
			if mr {
				continue
			}
			name := branch
			if isTag {
				name = tag
			}
			if strings.HasPrefix(r, "/") {
				re, err := compileSlashRegex(r)
				if err != nil {
					return false, err
				}
				if re.MatchString(name) {
					return true, nil
				}
			} else if r == name {
				return true, nil
			}
		}
	}
	return false, nil
}
