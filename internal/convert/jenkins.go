// Package convert translates a GitLab CI pipeline, as internal/ci loads
// it, into a Jenkins declarative pipeline (a Jenkinsfile). What has no
// faithful Jenkins equivalent is reported as a Warning, never dropped
// silently.
package convert

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor/shell"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Jenkins translates cfg into the text of a Jenkinsfile: GitLab stages
// become sequential stages, the jobs of one stage parallel stages, each
// job's scripts one sh step that stops at the first failing command as
// GitLab's shell does.
func Jenkins(cfg *ci.Config) (jenkinsfile string, warnings []Warning) {
	c := &converter{cfg: cfg, units: map[*ci.Job][]*unit{}}
	c.plan()
	c.pipeline()
	slices.SortStableFunc(c.warnings, func(a, b Warning) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return c.b.String(), c.warnings
}

// converter writes one Jenkinsfile.
type converter struct {
	cfg      *ci.Config
	b        strings.Builder
	depth    int
	warnings []Warning
	// keepGoing is set when a job runs after failures (when: on_failure or
	// always) or may fail or not depending on its rules: failures are then
	// caught so that Jenkins goes on to the later stages, whose when
	// conditions look at the build's result.
	keepGoing bool
	units     map[*ci.Job][]*unit
	// stashes tells whether any job passes artifacts on.
	stashes bool
	// workflowCond is the condition of every top-level stage that
	// workflow:rules make; "" without them.
	workflowCond string
}

// workflow translates workflow:rules into the body of a Groovy method
// that tells whether the pipeline runs, or "" when the file has none.
// Conditions without a translation keep the pipeline from running, as
// they keep a stage from running.
func (c *converter) workflow() string {
	w := c.cfg.Workflow
	if w == nil || w.Rules == nil {
		return ""
	}
	branches, problems := ruleBranches(&ci.Job{Rules: w.Rules, When: ci.OnSuccess}, nil)
	for _, p := range problems {
		c.warn(p.pos, "", "workflow:%s", strings.ReplaceAll(p.msg, "the stage does not run", "no stage runs"))
	}
	for i, r := range w.Rules {
		if len(r.Variables) > 0 {
			c.warn(r.Pos, "", "workflow:rules[%d]: variables: not translated; the pipeline's variables keep their values", i)
		}
	}
	cond := runsCondition(branches)
	switch {
	case cond == "":
		return "return true"
	case strings.HasPrefix(cond, "branch "):
		return "return env.BRANCH_NAME == " + strings.TrimPrefix(cond, "branch ")
	}
	return strings.TrimSuffix(strings.TrimPrefix(cond, "expression { "), " }")
}

// unit is the stage of one job instance, planned before anything is
// written.
type unit struct {
	job   *ci.Job
	in    instance
	dir   string // the job's own folder in the workspace
	stash string // the stash of its artifacts; "" without artifacts paths
	scope *scope
	// branches are its rules as Groovy (nil without rules); method, when
	// set, is the script method that picks one, for rules that differ in
	// more than whether the job runs.
	branches []ruleBranch
	method   string
	static   outcome // the outcome when method is ""
	topLevel bool    // not in a parallel block
}

// plan gives every job instance its folder, stash, scope and rules.
func (c *converter) plan() {
	dirs := map[string]bool{}
	n := 0
	for _, j := range c.cfg.Jobs {
		if j.When == ci.OnFailure || j.When == ci.Always {
			c.keepGoing = true
		}
		for _, in := range instances(j) {
			n++
			u := &unit{job: j, in: in, static: staticOutcome(j)}
			u.dir = "ci-jobs/" + cmp.Or(slug.Label(in.name), "job")
			for i := 2; dirs[u.dir]; i++ {
				u.dir = fmt.Sprintf("ci-jobs/%s-%d", cmp.Or(slug.Label(in.name), "job"), i)
			}
			dirs[u.dir] = true
			if j.Artifacts != nil && len(j.Artifacts.Paths) > 0 {
				u.stash = fmt.Sprintf("artifacts-%d", n)
				c.stashes = true
			}
			u.scope = newScope(c.cfg, j, in, u.dir)
			if j.Rules != nil {
				var problems []ruleProblem
				u.branches, problems = ruleBranches(j, u.scope)
				if len(c.units[j]) == 0 { // the same for every instance
					for _, p := range problems {
						c.warn(p.pos, j.Name, "%s", p.msg)
					}
				}
				if o, ok := uniform(u.branches); ok {
					u.static = o
				} else {
					u.method = fmt.Sprintf("gitlabRule%d", n)
				}
				for _, br := range u.branches {
					if br.out.when == ci.OnFailure || br.out.when == ci.Always {
						c.keepGoing = true
					}
				}
				u.scope.manualRules(j, u.method, u.static, u.branches)
				if u.method != "" && u.dynamicAllow() {
					c.keepGoing = true
				}
			}
			c.units[j] = append(c.units[j], u)
		}
	}
}

// dynamicAllow reports whether the unit's rules differ in allow_failure.
func (u *unit) dynamicAllow() bool {
	return indexes(u.branches, func(o outcome) bool { return o.runs() && o.allow }) != "[]" &&
		indexes(u.branches, func(o outcome) bool { return o.runs() && !o.allow }) != "[]"
}

func (c *converter) line(format string, args ...any) {
	c.b.WriteString(strings.Repeat("    ", c.depth))
	fmt.Fprintf(&c.b, format, args...)
	c.b.WriteByte('\n')
}

func (c *converter) open(format string, args ...any) {
	c.line(format+" {", args...)
	c.depth++
}

func (c *converter) close() {
	c.depth--
	c.line("}")
}

func (c *converter) warn(pos ci.Pos, job, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{Pos: pos, Job: job, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) pipeline() {
	c.line("// Generated by slipway convert jenkins from %s.", commentText(c.cfg.File))
	for _, j := range c.cfg.Jobs {
		c.unsupported(j)
	}
	if workflow := c.workflow(); workflow != "" {
		c.line("")
		c.line("// Whether GitLab's workflow:rules create the pipeline: every stage asks.")
		c.line("boolean gitlabWorkflow() {")
		c.line("    %s", workflow)
		c.line("}")
		c.workflowCond = "expression { gitlabWorkflow() }"
	}
	if c.stashes {
		c.line("")
		c.line("// The stashes of the jobs' artifacts, for the later jobs to unstash.")
		c.line("def stashed = [] as Set")
	}
	for _, j := range c.cfg.Jobs {
		for _, u := range c.units[j] {
			if u.method != "" {
				c.line("")
				c.line("// The rule of job %s that matches first, as GitLab picks it; -1 when none does.", commentText(u.in.name))
				for _, l := range strings.Split(strings.TrimSuffix(ruleMethod(u.method, u.branches), "\n"), "\n") {
					c.line("%s", l)
				}
			}
		}
	}
	c.line("")
	c.open("pipeline")
	// Each stage takes an agent of its own, so that a manual job's input
	// holds no executor and each job starts from its own checkout.
	c.line("agent none")
	var env ci.Variables
	var params []string
	for _, v := range c.cfg.Variables {
		if isParameter(v) {
			params = append(params, fmt.Sprintf("string(name: %s, defaultValue: %s, description: %s)", quote(v.Name), quote(v.Value), quote(v.Description)))
		} else {
			env = append(env, v)
		}
	}
	if len(params) > 0 {
		c.open("parameters")
		for _, p := range params {
			c.line("%s", p)
		}
		c.close()
	}
	c.open("options")
	c.line("skipDefaultCheckout() // each job checks out in its own folder")
	if c.allInterruptible() {
		// GitLab cancels a pipeline for a newer one on the same ref when
		// all its running jobs are interruptible.
		c.line("disableConcurrentBuilds(abortPrevious: true)")
	}
	c.close()
	c.environment(c.pipelinePredefined(), dependencyOrder(pipelineLevel(env)), "")
	c.open("stages")
	names := map[string]bool{}
	for _, j := range c.cfg.Jobs {
		for _, in := range instances(j) {
			names[in.name] = true
		}
	}
	for _, stage := range c.cfg.Stages {
		for level, members := range c.levels(stage) {
			c.stage(stage, level, members, names)
		}
	}
	c.close()
	c.close()
}

// levels splits the jobs of a GitLab stage into groups that run one after
// the other: a job that needs a job of its own stage comes in a group
// after it, the closest Jenkins has to GitLab's needs within a stage.
func (c *converter) levels(stage string) [][]*unit {
	level := map[*ci.Job]int{}
	var jobs []*ci.Job
	for _, j := range c.cfg.Jobs {
		if j.Stage == stage {
			jobs = append(jobs, j)
		}
	}
	for changed, rounds := true, 0; changed && rounds <= len(jobs); rounds++ {
		changed = false
		for _, j := range jobs {
			for _, n := range j.Needs {
				if d := c.cfg.Job(n.Job); d != nil && d != j && d.Stage == stage && level[j] <= level[d] {
					level[j], changed = level[d]+1, true
				}
			}
		}
	}
	var out [][]*unit
	for _, j := range jobs {
		for len(out) <= level[j] {
			out = append(out, nil)
		}
		out[level[j]] = append(out[level[j]], c.units[j]...)
	}
	return out
}

// stage writes one group of a GitLab stage's jobs: one Jenkins stage, or
// parallel stages in one.
func (c *converter) stage(stage string, level int, members []*unit, names map[string]bool) {
	if level > 0 {
		stage = fmt.Sprintf("%s (%d)", stage, level+1)
	}
	switch {
	case len(members) == 0:
		return
	case len(members) == 1:
		if members[0].in.name != stage {
			c.line("// stage %s", commentText(stage))
		}
		members[0].topLevel = true
		c.job(members[0])
		return
	}
	name := stage
	if names[name] {
		name = "stage " + stage // Jenkins wants every stage name once
	}
	c.open("stage(%s)", quote(name))
	if c.workflowCond != "" {
		c.line("when { beforeAgent true; %s }", c.workflowCond)
	}
	c.open("parallel")
	for _, m := range members {
		c.job(m)
	}
	c.close()
	c.close()
}

// allInterruptible reports whether every job is interruptible.
func (c *converter) allInterruptible() bool {
	for _, j := range c.cfg.Jobs {
		if !j.Interruptible {
			return false
		}
	}
	return true
}

// instance is one Jenkins stage of a job: the job itself, or one copy of
// a parallel or matrix job with the variables that tell it apart.
type instance struct {
	name string
	vars ci.Variables
}

// instances expands parallel: N and parallel:matrix with GitLab's names
// ("test 1/3", "deploy: [aws, eu]").
func instances(j *ci.Job) []instance {
	p := j.Parallel
	if p == nil {
		return []instance{{name: j.Name}}
	}
	var out []instance
	if p.Count > 0 {
		for i := 1; i <= p.Count; i++ {
			out = append(out, instance{name: fmt.Sprintf("%s %d/%d", j.Name, i, p.Count), vars: ci.Variables{
				{Name: "CI_NODE_INDEX", Value: fmt.Sprint(i)}, {Name: "CI_NODE_TOTAL", Value: fmt.Sprint(p.Count)},
			}})
		}
		return out
	}
	for e, entry := range p.Matrix {
		var combos []ci.Variables
		var walk func(keys []string, acc ci.Variables)
		walk = func(keys []string, acc ci.Variables) {
			if len(keys) == 0 {
				combos = append(combos, acc)
				return
			}
			for _, v := range entry[keys[0]] {
				walk(keys[1:], append(slices.Clone(acc), ci.Variable{Name: keys[0], Value: v, Raw: true}))
			}
		}
		walk(p.MatrixOrder[e], nil)
		for _, vars := range combos {
			vals := make([]string, len(vars))
			for i, v := range vars {
				vals[i] = v.Value
			}
			out = append(out, instance{name: fmt.Sprintf("%s: [%s]", j.Name, strings.Join(vals, ", ")), vars: vars})
		}
	}
	for i := range out {
		out[i].vars = append(out[i].vars, ci.Variable{Name: "CI_NODE_INDEX", Value: fmt.Sprint(i + 1)},
			ci.Variable{Name: "CI_NODE_TOTAL", Value: fmt.Sprint(len(out))})
	}
	return out
}

// job writes the stage of one job instance.
func (c *converter) job(u *unit) {
	j := u.job
	c.open("stage(%s)", quote(u.in.name))
	if j.Image != nil && len(j.Services) == 0 {
		c.line("agent { docker { %s } }", strings.Join(dockerAgent(j.Image), "; "))
	} else {
		c.line("agent any") // with services, the steps start the containers
	}
	c.when(u)
	if u.method == "" && u.static.when == ci.Manual {
		c.line("input { message %s; ok 'Run' }", quote("Run job "+u.in.name+"?"))
	}
	u.scope.lines(c, j.Name)
	c.open("steps")
	c.steps(u)
	c.close()
	c.post(u)
	c.close()
}

// dockerAgent is the docker agent of a job's image.
func dockerAgent(img *ci.Image) []string {
	out := []string{"image " + quote(img.Name)}
	if slices.Equal(img.Entrypoint, []string{""}) {
		out = append(out, "args '--entrypoint='") // GitLab's way to drop the image's entrypoint
	}
	if slices.Contains(img.PullPolicy, "always") {
		out = append(out, "alwaysPull true")
	}
	return out
}

// allowsFailure reports whether the job's failure leaves the pipeline
// successful (manual jobs do unless they say otherwise).
func allowsFailure(j *ci.Job) bool {
	if !j.AllowFailure.Set {
		return j.When == ci.Manual
	}
	return j.AllowFailure.Allowed
}

// steps writes the job's steps: in its own folder, a clean checkout, the
// artifacts of the jobs it depends on, then its scripts.
func (c *converter) steps(u *unit) {
	j := u.job
	depth := c.depth
	if u.method != "" {
		// The rules decide on input, delay, allow_failure and variables.
		c.open("script")
		c.line("int rule = %s()", u.method)
		for i, br := range u.branches {
			switch br.out.when {
			case ci.Manual:
				c.line("if (rule == %d) { input(message: %s, ok: 'Run') }", i, quote("Run job "+u.in.name+"?"))
			case ci.Delayed:
				c.line("if (rule == %d) { sleep(time: %d, unit: 'SECONDS') }", i, int(br.out.startIn.Seconds()))
			}
		}
		if vars := ruleVars(u, "rule"); vars != "" {
			c.open("withEnv(%s)", vars)
		}
	}
	if w := withEnv(j, u.in); w != "" {
		c.open("%s", w)
	}
	scripted := u.method != ""
	if len(j.Services) > 0 {
		if !scripted {
			c.open("script")
			scripted = true
		}
		c.openServices(u)
	}
	c.open("dir(%s)", quote(u.dir))
	c.line("deleteDir()")
	c.line("checkout scm")
	if deps := c.dependencies(u); len(deps) > 0 {
		// A job that did not run or failed left no stash to unstash.
		unstash := fmt.Sprintf("for (name in [%s]) { if (stashed.contains(name)) { unstash(name) } }", strings.Join(deps, ", "))
		if !scripted {
			unstash = "script { " + unstash + " }" // the steps are in a script block otherwise
		}
		c.line("%s", unstash)
	}
	if j.ResourceGroup != "" {
		rg := ci.Variable{Name: "resource_group", Value: j.ResourceGroup}
		c.open("lock(resource: %s)", value(rg))
	}
	switch {
	case u.method != "" && u.dynamicAllow():
		allowed := indexes(u.branches, func(o outcome) bool { return o.runs() && o.allow })
		c.open("catchError(buildResult: rule in %s ? 'SUCCESS' : 'FAILURE', stageResult: rule in %s ? 'UNSTABLE' : 'FAILURE')", allowed, allowed)
	case u.method == "" && u.static.allow:
		c.open("catchError(buildResult: 'SUCCESS', stageResult: 'UNSTABLE')")
	case c.keepGoing:
		c.open("catchError(buildResult: 'FAILURE', stageResult: 'FAILURE')")
	}
	if u.method == "" && u.static.when == ci.Delayed {
		c.line("sleep(time: %d, unit: 'SECONDS')", int(u.static.startIn.Seconds()))
	}
	script := quote(shScript(append(slices.Clone(j.BeforeScript), j.Script...)))
	if len(j.AllowFailure.ExitCodes) > 0 && u.method == "" {
		c.allowedExitCodes(j, script)
	} else {
		c.retryAndTimeout(j, func() { c.line("sh label: 'script', script: %s", script) })
	}
	for c.depth > depth {
		c.close()
	}
}

// ruleVars is the Groovy list of NAME=value the matching rule adds, with
// rule the Groovy for its index; "" when no rule has variables.
func ruleVars(u *unit, rule string) string {
	var b strings.Builder
	for i, br := range u.branches {
		if len(br.out.vars) == 0 || !br.out.runs() {
			continue
		}
		var list []string
		for _, v := range br.out.vars {
			list = append(list, quote(v.Name+"=")+" + "+value(v))
		}
		fmt.Fprintf(&b, "%s == %d ? [%s] : ", rule, i, strings.Join(list, ", "))
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + "[]"
}

// dependencies are the quoted stash names of the jobs whose artifacts u
// gets, as GitLab picks them: dependencies, else the needs that take
// artifacts, else every job of the earlier stages.
func (c *converter) dependencies(u *unit) []string {
	j := u.job
	stageOf := map[string]int{}
	for i, s := range c.cfg.Stages {
		stageOf[s] = i
	}
	var from []*ci.Job
	switch {
	case j.Dependencies != nil:
		for _, name := range j.Dependencies {
			if d := c.cfg.Job(name); d != nil {
				from = append(from, d)
			}
		}
	case j.Needs != nil:
		for _, n := range j.Needs {
			if d := c.cfg.Job(n.Job); d != nil && n.Artifacts {
				from = append(from, d)
			}
		}
	default:
		for _, d := range c.cfg.Jobs {
			if stageOf[d.Stage] < stageOf[j.Stage] {
				from = append(from, d)
			}
		}
	}
	var out []string
	for _, d := range from {
		for _, du := range c.units[d] {
			if du.stash != "" {
				out = append(out, quote(du.stash))
			}
		}
	}
	return out
}

// retryAndTimeout writes body inside the job's retries, each attempt with
// the job's timeout, as GitLab's timeout is per attempt.
func (c *converter) retryAndTimeout(j *ci.Job, body func()) {
	depth := c.depth
	if j.Retry.Max > 0 {
		c.open("retry(%d)", j.Retry.Max+1) // Jenkins counts attempts, GitLab retries
	}
	if j.Timeout > 0 {
		c.open("timeout(time: %d, unit: 'SECONDS')", int(j.Timeout.Seconds()))
	}
	body()
	for c.depth > depth {
		c.close()
	}
}

// allowedExitCodes writes the script of a job allowed to fail with some
// exit codes only: every attempt fails on any non-zero code, so retries
// happen as in GitLab, and the last attempt's code decides whether the
// failure is allowed (the stage unstable, the build successful).
func (c *converter) allowedExitCodes(j *ci.Job, script string) {
	codes := make([]string, len(j.AllowFailure.ExitCodes))
	for i, code := range j.AllowFailure.ExitCodes {
		codes[i] = strconv.Itoa(code)
	}
	c.open("script")
	c.line("def code = 0")
	c.open("try")
	c.retryAndTimeout(j, func() {
		c.line("code = -1 // a timeout leaves no exit code")
		c.line("code = sh label: 'script', returnStatus: true, script: %s", script)
		c.line("if (code != 0) { error(\"script returned exit code ${code}\") }")
	})
	c.depth--
	c.line("} catch (err) {")
	c.depth++
	c.line("if (!(code in [%s])) { throw err }", strings.Join(codes, ", "))
	c.line("catchError(buildResult: 'SUCCESS', stageResult: 'UNSTABLE') { error(\"exit code ${code} is allowed to fail\") }")
	c.close()
	c.close()
}

// shScript is the program of one sh step: the shell executor's own (each
// command echoed as "$ cmd", stop at the first failing one). The #! line
// keeps Jenkins from adding -x; the script then runs itself again with
// bash where the image has it, as GitLab Runner picks bash before sh, and
// turns pipefail on where the shell has it.
func shScript(commands []string) string {
	return "#!/bin/sh\n" + bashFirst + "(set -o pipefail) 2>/dev/null && set -o pipefail\n" + shell.Script(commands, false)
}

// bashFirst runs the script with the first bash of GitLab Runner's list.
const bashFirst = `if [ -z "$BASH_VERSION" ]; then for gitlab_shell in /usr/local/bin/bash /usr/bin/bash /bin/bash; do if [ -x "$gitlab_shell" ]; then exec "$gitlab_shell" "$0"; fi; done; unset gitlab_shell; fi
`

// when writes the stage's conditions: rules or only/except, and the
// pipeline's state for jobs that run after failures. A condition that has
// no translation keeps the stage from running, with a warning.
func (c *converter) when(u *unit) {
	j := u.job
	var conds []string
	if u.topLevel && c.workflowCond != "" {
		conds = append(conds, c.workflowCond)
	}
	result := func(w ci.When) string {
		switch {
		case !c.keepGoing || w == ci.Always:
			return ""
		case w == ci.OnFailure:
			return "currentBuild.resultIsWorseOrEqualTo('FAILURE')"
		}
		return "currentBuild.resultIsBetterOrEqualTo('UNSTABLE')"
	}
	switch {
	case u.method != "":
		var alts []string
		for _, w := range []ci.When{ci.OnSuccess, ci.OnFailure, ci.Always} {
			in := indexes(u.branches, func(o outcome) bool {
				return o.runs() && (o.when == w || w == ci.OnSuccess && (o.when == ci.Manual || o.when == ci.Delayed))
			})
			switch r := result(w); {
			case in == "[]":
			case r == "":
				alts = append(alts, "rule in "+in)
			default:
				alts = append(alts, "(rule in "+in+" && "+r+")")
			}
		}
		conds = append(conds, fmt.Sprintf("expression { int rule = %s(); %s }", u.method, strings.Join(alts, " || ")))
	case !u.static.runs() && j.Rules == nil:
		conds = append(conds, "expression { false } // when: never")
	case !u.static.runs():
		conds = append(conds, "expression { false } // no rule adds the job")
	default:
		if r := result(u.static.when); r != "" {
			conds = append(conds, "expression { "+r+" }")
		}
		if j.Rules != nil {
			if cond := runsCondition(u.branches); cond != "" {
				conds = append(conds, cond)
			}
		}
	}
	only := j.Only
	if only == nil && j.Rules == nil {
		only = &ci.RefFilter{} // GitLab's default, only: [branches, tags]
	}
	for _, f := range []struct {
		filter *ci.RefFilter
		only   bool
	}{{only, true}, {j.Except, false}} {
		if f.filter == nil {
			continue
		}
		cond, err := refFilter(f.filter, f.only, u.scope)
		key := map[bool]string{true: "only", false: "except"}[f.only]
		switch {
		case err != nil:
			if u == c.units[j][0] {
				c.warn(f.filter.Pos, j.Name, "%s: %v; the stage does not run", key, err)
			}
			conds = append(conds, "expression { false } // "+key+": not translated")
		case cond != "" && f.only:
			conds = append(conds, cond)
		case cond != "":
			conds = append(conds, "not { "+cond+" }")
		}
	}
	if len(conds) == 0 {
		return
	}
	c.open("when")
	c.line("beforeAgent true")
	if u.method == "" && u.static.when == ci.Manual {
		c.line("beforeInput true")
	}
	for _, cond := range conds {
		c.line("%s", cond)
	}
	c.close()
}

// post writes after_script, artifacts, their stash and JUnit reports,
// each under the condition GitLab runs or uploads them, in the job's
// folder.
func (c *converter) post(u *unit) {
	j := u.job
	byCond := map[string][]string{}
	if len(j.AfterScript) > 0 {
		// A failing after_script does not change the job's result in GitLab.
		step := "sh label: 'after_script', script: " + quote(shScript(j.AfterScript))
		if w := withEnv(j, u.in); w != "" {
			step = w + " { " + step + " }"
		}
		if u.method != "" {
			if vars := ruleVars(u, u.method+"()"); vars != "" {
				step = "script { withEnv(" + vars + ") { " + step + " } }"
			}
		}
		step = "catchError(buildResult: 'SUCCESS', stageResult: 'SUCCESS') { " + step + " }"
		if !usesJobStatus(j) {
			byCond["always"] = append(byCond["always"], step)
		} else {
			// The stage's result, which only post conditions see, gives
			// GitLab's CI_JOB_STATUS.
			for _, cond := range []string{"aborted", "failure", "success", "unstable"} {
				status := map[string]string{"aborted": "canceled", "success": "success"}[cond]
				if status == "" {
					status = "failed"
				}
				byCond[cond] = append(byCond[cond], "withEnv(['CI_JOB_STATUS="+status+"']) { "+step+" }")
			}
		}
	}
	if a := j.Artifacts; a != nil {
		cond := map[string]string{"": "success", "on_success": "success", "on_failure": "unsuccessful", "always": "always"}[a.When]
		if len(a.Paths) > 0 {
			files := "artifacts: " + quote(antPatterns(a.Paths))
			if len(a.Exclude) > 0 {
				files += ", excludes: " + quote(antPatterns(a.Exclude))
			}
			byCond[cond] = append(byCond[cond], "archiveArtifacts "+files+", allowEmptyArchive: true")
			stash := strings.Replace(files, "artifacts: ", "includes: ", 1)
			byCond[cond] = append(byCond[cond], fmt.Sprintf("script { stash(name: %s, %s, allowEmpty: true); stashed << %s }", quote(u.stash), stash, quote(u.stash)))
		}
		if junit := a.Reports["junit"]; len(junit) > 0 {
			byCond[cond] = append(byCond[cond], "junit testResults: "+quote(strings.Join(junit, ", "))+", allowEmptyResults: true")
		}
	}
	if len(byCond) == 0 {
		return
	}
	c.open("post")
	// Jenkins runs post conditions in this order whatever the file says.
	for _, cond := range []string{"always", "aborted", "failure", "success", "unstable", "unsuccessful"} {
		if steps := byCond[cond]; len(steps) > 0 {
			c.open("%s", cond)
			c.open("dir(%s)", quote(u.dir))
			for _, s := range steps {
				c.line("%s", s)
			}
			c.close()
			c.close()
		}
	}
	c.close()
}

// usesJobStatus reports whether the job's after_script reads
// CI_JOB_STATUS.
func usesJobStatus(j *ci.Job) bool {
	for _, cmd := range j.AfterScript {
		for _, m := range predefinedRef.FindAllStringSubmatch(cmd, -1) {
			if m[1] == "CI_JOB_STATUS" {
				return true
			}
		}
	}
	return false
}

// antPatterns turns GitLab artifact paths into Jenkins' comma-separated
// Ant patterns. A plain path may name a folder, which GitLab takes whole
// and Ant only with /** after it, so it is given both ways.
func antPatterns(paths []string) string {
	var out []string
	for _, p := range paths {
		out = append(out, p)
		if !strings.HasSuffix(p, "/") && !strings.ContainsAny(p, "*?[") {
			out = append(out, p+"/**")
		}
	}
	return strings.Join(out, ", ")
}
