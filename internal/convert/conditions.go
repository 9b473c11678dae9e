package convert

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// exprToken reads one token of a `rules:if` or `only:variables`
// expression with GitLab's lexemes: a variable, a string (no escapes), a
// /pattern/flags, an operator, a parenthesis, null, true or false.
var exprToken = regexp.MustCompile(`^(?:\$\{(\w+)\}|\$(\w+)|"([^"\n]*)"|'([^'\n]*)'|(/(?:[^/]|\\/)+[^\\]/[ismU]*)|(==|=~|!=|!~|&&|\|\||\(|\))|(null|true|false)\b)`)

// token kinds, by exprToken's groups.
const (
	tokVar = iota
	tokString
	tokPattern
	tokOp
	tokWord
)

type token struct {
	kind int
	text string // the Groovy for operands, the operator itself otherwise
}

// groovyExpr translates a GitLab CI expression into a Groovy boolean
// expression over env. GitLab's operators bind as Groovy's do (comparisons,
// then &&, then ||), so the translation goes token by token. It fails for
// what has no faithful translation: predefined variables Jenkins lacks,
// pattern flags Java reads differently, and =~ against anything but a
// /pattern/.
func groovyExpr(src string) (string, error) {
	var toks []token
	rest := strings.TrimSpace(src)
	for rest != "" {
		m := exprToken.FindStringSubmatch(rest)
		if m == nil {
			return "", fmt.Errorf("cannot translate %q at %q", src, rest)
		}
		var t token
		switch {
		case m[1] != "" || m[2] != "":
			g, err := envRef(m[1] + m[2])
			if err != nil {
				return "", err
			}
			t = token{tokVar, g}
		case strings.HasPrefix(m[0], `"`) || strings.HasPrefix(m[0], "'"):
			t = token{tokString, quote(m[3] + m[4])}
		case m[5] != "":
			p, err := javaPattern(m[5])
			if err != nil {
				return "", err
			}
			t = token{tokPattern, p}
		case m[6] != "":
			t = token{tokOp, m[6]}
		default:
			t = token{tokWord, m[7]}
		}
		toks = append(toks, t)
		rest = strings.TrimSpace(rest[len(m[0]):])
	}
	// compared reports whether toks[j] is a comparison operator.
	compared := func(j int) bool {
		return j >= 0 && j < len(toks) && slices.Contains([]string{"==", "!=", "=~", "!~"}, toks[j].text)
	}
	var out []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case i+2 < len(toks) && (toks[i+1].text == "=~" || toks[i+1].text == "!~"):
			if toks[i+2].kind != tokPattern {
				return "", fmt.Errorf("%q: =~ and !~ are translated only with a /pattern/ on the right", src)
			}
			// GitLab matches an undefined variable as the empty string.
			test := fmt.Sprintf("((%s ?: '') =~ %s)", t.text, toks[i+2].text)
			if toks[i+1].text == "!~" {
				test = "!" + test
			}
			out = append(out, test)
			i += 2
		case t.kind == tokVar && !compared(i-1) && !compared(i+1):
			// A variable alone holds when it is set and not blank.
			out = append(out, t.text+"?.trim()")
		default:
			out = append(out, t.text)
		}
	}
	return strings.Join(out, " "), nil
}

// envRef is the Groovy for the value of a variable in an expression.
func envRef(name string) (string, error) {
	if g, ok := jenkinsVars[name]; ok {
		return g, nil
	}
	if strings.HasPrefix(name, "CI_") || strings.HasPrefix(name, "GITLAB_") {
		return "", fmt.Errorf("$%s is a GitLab predefined variable that Jenkins does not set", name)
	}
	if !expand.IsName(name) {
		return "", fmt.Errorf("$%s: not a Jenkins environment name", name)
	}
	return "env." + name, nil
}

// javaPattern turns a /re/flags literal into a quoted Java regular
// expression with the same meaning.
func javaPattern(lit string) (string, error) {
	end := strings.LastIndex(lit, "/")
	re, flags := strings.ReplaceAll(lit[1:end], `\/`, "/"), lit[end+1:]
	if strings.Trim(flags, "ims") != "" {
		return "", fmt.Errorf("pattern %s: flag %q has no Java equivalent", lit, strings.Trim(flags, "ims"))
	}
	if flags != "" {
		re = "(?" + flags + ")" + re
	}
	return quote(re), nil
}

// refCondition is the Jenkins condition for one entry of only/except refs.
func refCondition(ref string) (string, error) {
	switch ref {
	case "branches":
		return "not { buildingTag() }", nil
	case "tags":
		return "buildingTag()", nil
	case "merge_requests":
		return "changeRequest()", nil
	case "api", "chat", "external", "external_pull_requests", "pipelines", "pushes", "schedules", "triggers", "web":
		return "", fmt.Errorf("%s: Jenkins has no condition on how a pipeline was started", ref)
	}
	if strings.HasPrefix(ref, "/") && strings.Count(ref, "/") >= 2 {
		p, err := javaPattern(ref)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("expression { env.BRANCH_NAME != null && env.BRANCH_NAME =~ %s }", p), nil
	}
	if strings.Contains(ref, "@") {
		return "", fmt.Errorf("%s: refs of other projects have no Jenkins equivalent", ref)
	}
	if strings.ContainsAny(ref, "*?") {
		// Jenkins reads * and ? in a plain branch name as a glob.
		return fmt.Sprintf("branch pattern: %s, comparator: 'EQUALS'", quote(ref)), nil
	}
	return "branch " + quote(ref), nil
}

// anyOf joins conditions of which one must hold.
func anyOf(conds []string) string {
	if len(conds) == 1 {
		return conds[0]
	}
	return "anyOf { " + strings.Join(conds, "; ") + " }"
}

// allOf joins conditions that must all hold.
func allOf(conds []string) string {
	if len(conds) == 1 {
		return conds[0]
	}
	return "allOf { " + strings.Join(conds, "; ") + " }"
}

// refFilter translates only: or except: into one condition that holds when
// the filter matches (every key given matches, as GitLab requires).
func refFilter(f *ci.RefFilter, isOnly bool) (string, error) {
	if len(f.Changes) > 0 {
		return "", fmt.Errorf("changes: Jenkins has no condition on the files a push changed that matches GitLab's")
	}
	if f.Kubernetes != "" {
		return "", fmt.Errorf("kubernetes: no Jenkins equivalent")
	}
	var keys []string
	refs := f.Refs
	if isOnly && len(refs) == 0 {
		refs = []string{"branches", "tags"} // GitLab's default
	}
	if len(refs) > 0 && !(len(refs) == 2 && refs[0] == "branches" && refs[1] == "tags") {
		var conds []string
		for _, r := range refs {
			c, err := refCondition(r)
			if err != nil {
				return "", err
			}
			conds = append(conds, c)
		}
		keys = append(keys, anyOf(conds))
	}
	if len(f.Variables) > 0 {
		var conds []string
		for _, e := range f.Variables {
			g, err := groovyExpr(e)
			if err != nil {
				return "", fmt.Errorf("variables: %w", err)
			}
			conds = append(conds, "expression { "+g+" }")
		}
		keys = append(keys, anyOf(conds))
	}
	if len(keys) == 0 {
		return "", nil
	}
	return allOf(keys), nil
}

// branchEquals matches the translation of `$CI_COMMIT_BRANCH == "x"`,
// which reads better as Jenkins' own branch condition.
var branchEquals = regexp.MustCompile(`^\(env\.TAG_NAME \|\| env\.CHANGE_ID \? null : env\.BRANCH_NAME\) == ('(?:[^'\\*?]|\\.)*')$`)

// rulesCondition translates rules: into one condition that holds when the
// first matching rule adds the job, as GitLab evaluates them. Rules that
// change anything else than whether the job runs (variables, needs,
// changes, exists, a different when...) have no faithful translation; the
// error then comes with the position of the rule at fault.
func rulesCondition(j *ci.Job) (string, ci.Pos, error) {
	type branch struct{ cond, result string }
	var branches []branch
	for i, r := range j.Rules {
		switch {
		case r.Changes != nil:
			return "", r.Pos, fmt.Errorf("rules[%d]: changes: Jenkins has no condition on the files a push changed that matches GitLab's", i)
		case r.Exists != nil:
			return "", r.Pos, fmt.Errorf("rules[%d]: exists: not translated (Jenkins would check the workspace, not the commit)", i)
		case len(r.Variables) > 0:
			return "", r.Pos, fmt.Errorf("rules[%d]: variables: a Jenkins condition cannot set variables", i)
		case r.Needs != nil:
			return "", r.Pos, fmt.Errorf("rules[%d]: needs: not translated", i)
		case r.AllowFailure != nil:
			return "", r.Pos, fmt.Errorf("rules[%d]: allow_failure: not translated", i)
		case r.StartIn > 0:
			return "", r.Pos, fmt.Errorf("rules[%d]: start_in: not translated", i)
		case r.When != "" && r.When != ci.Never && r.When != j.When:
			return "", r.Pos, fmt.Errorf("rules[%d]: when: %s differs from the job's when: %s; Jenkins stages have one", i, r.When, j.When)
		}
		result := "true"
		if r.When == ci.Never {
			result = "false"
		}
		cond := "true"
		if r.If != "" {
			g, err := groovyExpr(r.If)
			if err != nil {
				return "", r.IfPos, fmt.Errorf("rules[%d]: if: %w", i, err)
			}
			cond = g
		}
		branches = append(branches, branch{cond, result})
		if cond == "true" {
			break // later rules are never reached
		}
	}
	if len(branches) == 1 && branches[0].result == "true" {
		if m := branchEquals.FindStringSubmatch(branches[0].cond); m != nil {
			return "branch " + m[1], ci.Pos{}, nil
		}
		if branches[0].cond == "true" {
			return "", ci.Pos{}, nil
		}
		return "expression { " + branches[0].cond + " }", ci.Pos{}, nil
	}
	var b strings.Builder
	b.WriteString("expression { ")
	for _, br := range branches {
		if br.cond == "true" {
			fmt.Fprintf(&b, "return %s }", br.result)
			return b.String(), ci.Pos{}, nil
		}
		fmt.Fprintf(&b, "if (%s) { return %s }; ", br.cond, br.result)
	}
	b.WriteString("return false }")
	return b.String(), ci.Pos{}, nil
}
