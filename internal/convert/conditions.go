package convert

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

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
	tokSource // $CI_PIPELINE_SOURCE
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
	return groovyExprIn(src, nil)
}

// groovyExprIn is groovyExpr for the conditions of a stage, which Jenkins
// evaluates before it sets the stage's environment: the variables the
// stage sets are written out from s.
func groovyExprIn(src string, s *scope) (string, error) {
	var toks []token
	rest := strings.TrimSpace(src)
	for rest != "" {
		m := exprToken.FindStringSubmatch(rest)
		if m == nil {
			return "", fmt.Errorf("cannot translate %q at %q", src, rest)
		}
		var t token
		switch {
		case m[1]+m[2] == "CI_PIPELINE_SOURCE":
			t = token{tokSource, ""} // only its comparison with merge_request_event has a translation
		case m[1] != "" || m[2] != "":
			g, ok := "", false
			if s != nil {
				g, ok = s.ref(m[1] + m[2])
			}
			if !ok {
				var err error
				if g, err = envRef(m[1] + m[2]); err != nil {
					return "", err
				}
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
		if t.kind == tokSource || t.kind == tokString && i+2 < len(toks) && toks[i+2].kind == tokSource {
			// A change request's build is GitLab's merge request pipeline;
			// Jenkins does not tell the other sources apart.
			other := i + 2
			if t.kind != tokSource {
				other = i
			}
			if other >= len(toks) || i+1 >= len(toks) || toks[other].text != quote("merge_request_event") || (toks[i+1].text != "==" && toks[i+1].text != "!=") {
				return "", fmt.Errorf("$CI_PIPELINE_SOURCE is a GitLab predefined variable that Jenkins does not set (only == and != \"merge_request_event\" are translated)")
			}
			out = append(out, map[string]string{"==": "(env.CHANGE_ID != null)", "!=": "(env.CHANGE_ID == null)"}[toks[i+1].text])
			i += 2
			continue
		}
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
		// GitLab's merge request pipelines are not branch pipelines.
		return "not { anyOf { buildingTag(); changeRequest() } }", nil
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
		return fmt.Sprintf("expression { env.CHANGE_ID == null && env.BRANCH_NAME != null && env.BRANCH_NAME =~ %s }", p), nil
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
func refFilter(f *ci.RefFilter, isOnly bool, s *scope) (string, error) {
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
	if len(refs) == 2 && refs[0] == "branches" && refs[1] == "tags" {
		keys = append(keys, "not { changeRequest() }") // GitLab's default: no merge request pipelines
	} else if len(refs) > 0 {
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
			g, err := groovyExprIn(e, s)
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

// outcome is what a matching rule makes of a job.
type outcome struct {
	when    ci.When // never: the job is not in the pipeline
	allow   bool    // allow_failure
	startIn time.Duration
	vars    ci.Variables
}

// ruleBranch is one rule as Groovy: when cond holds (and no earlier rule
// matched), the job gets out.
type ruleBranch struct {
	cond string // "true" when the rule matches whatever the ref
	out  outcome
}

// ruleProblem is a part of a rule that has no translation.
type ruleProblem struct {
	pos ci.Pos
	msg string
}

// ruleBranches translates j's rules as GitLab evaluates them: the first
// rule that matches decides. Conditions that have no translation are never
// dropped: where such a rule is reached, the job does not run (a rule with
// changes or exists, when its if holds; a rule whose if has no
// translation, always), and the problem says so.
func ruleBranches(j *ci.Job, s *scope) ([]ruleBranch, []ruleProblem) {
	var branches []ruleBranch
	var problems []ruleProblem
	never := outcome{when: ci.Never}
	for i, r := range j.Rules {
		cond := "true"
		if r.If != "" {
			g, err := groovyExprIn(r.If, s)
			if err != nil {
				problems = append(problems, ruleProblem{r.IfPos, fmt.Sprintf("rules[%d]: if: %v; the stage does not run where this rule is reached (later rules are not looked at)", i, err)})
				return append(branches, ruleBranch{"true", never}), problems
			}
			cond = g
		}
		var unknown []string
		if r.Changes != nil {
			unknown = append(unknown, "changes: not translated (Jenkins has no condition on the files a push changed that matches GitLab's)")
		}
		if r.Exists != nil {
			unknown = append(unknown, "exists: not translated (Jenkins decides before the stage has a workspace)")
		}
		if len(unknown) > 0 {
			where := "where its if holds"
			if r.If == "" {
				where = "where this rule is reached"
			}
			problems = append(problems, ruleProblem{r.Pos, fmt.Sprintf("rules[%d]: %s; the stage does not run %s", i, strings.Join(unknown, "; "), where)})
			branches = append(branches, ruleBranch{cond, never})
		} else {
			if r.Needs != nil {
				problems = append(problems, ruleProblem{r.Pos, fmt.Sprintf("rules[%d]: needs: not translated; the stage keeps the job's needs", i)})
			}
			branches = append(branches, ruleBranch{cond, ruleOutcome(j, &r)})
		}
		if cond == "true" {
			break // later rules are never reached
		}
	}
	return branches, problems
}

// ruleOutcome is what rule r makes of j when it matches, as internal/ci
// plans it.
func ruleOutcome(j *ci.Job, r *ci.Rule) outcome {
	o := outcome{when: j.When, startIn: j.StartIn, vars: r.Variables}
	if r.When != "" {
		o.when = r.When
	}
	switch {
	case r.AllowFailure != nil:
		o.allow = *r.AllowFailure
	case j.AllowFailure.Set:
		o.allow = j.AllowFailure.Allowed
	}
	if r.StartIn > 0 {
		o.startIn = r.StartIn
	}
	return o
}

// staticOutcome is the job's outcome without rules.
func staticOutcome(j *ci.Job) outcome {
	return outcome{when: j.When, allow: allowsFailure(j), startIn: j.StartIn}
}

// runs reports whether the job runs at all with this outcome.
func (o outcome) runs() bool { return o.when != ci.Never }

// equal reports whether two outcomes without variables are the same.
func (o outcome) equal(p outcome) bool {
	return o.when == p.when && o.allow == p.allow && o.startIn == p.startIn && len(o.vars) == 0 && len(p.vars) == 0
}

// uniform returns the one outcome of all branches that run the job, and
// whether there is one (all such branches agree).
func uniform(branches []ruleBranch) (outcome, bool) {
	var first *outcome
	for i := range branches {
		o := branches[i].out
		if !o.runs() {
			continue
		}
		if first == nil {
			first = &branches[i].out
		} else if !first.equal(o) {
			return outcome{}, false
		}
	}
	if first == nil {
		return outcome{when: ci.Never}, true
	}
	if len(first.vars) > 0 {
		return outcome{}, false
	}
	return *first, true
}

// runsCondition is a when condition that holds where a branch that runs
// the job matches first.
func runsCondition(branches []ruleBranch) string {
	if len(branches) == 1 && branches[0].out.runs() {
		if m := branchEquals.FindStringSubmatch(branches[0].cond); m != nil {
			return "branch " + m[1]
		}
		if branches[0].cond == "true" {
			return ""
		}
		return "expression { " + branches[0].cond + " }"
	}
	var b strings.Builder
	b.WriteString("expression { ")
	for _, br := range branches {
		if br.cond == "true" {
			fmt.Fprintf(&b, "return %t }", br.out.runs())
			return b.String()
		}
		fmt.Fprintf(&b, "if (%s) { return %t }; ", br.cond, br.out.runs())
	}
	b.WriteString("return false }")
	return b.String()
}

// ruleMethod is a script method that returns the index of the branch that
// matches first, -1 when none does, for stages whose rules differ in more
// than whether the job runs.
func ruleMethod(name string, branches []ruleBranch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "int %s() {\n", name)
	for i, br := range branches {
		if br.cond == "true" {
			fmt.Fprintf(&b, "    return %d\n}\n", i)
			return b.String()
		}
		fmt.Fprintf(&b, "    if (%s) { return %d }\n", br.cond, i)
	}
	b.WriteString("    return -1\n}\n")
	return b.String()
}

// indexes lists the branches for which keep holds, as a Groovy list.
func indexes(branches []ruleBranch, keep func(outcome) bool) string {
	var out []string
	for i, br := range branches {
		if keep(br.out) {
			out = append(out, strconv.Itoa(i))
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}
