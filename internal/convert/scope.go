package convert

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/tier"
)

// scope is what the stage of one job instance sets in its environment
// block: the job's predefined variables, its own variables and the
// pipeline's variables that refer to any of them, which GitLab expands for
// each job and a pipeline-level environment block would expand once.
type scope struct {
	pre   []string // NAME = expression lines of predefined variables
	vars  ci.Variables
	unset map[string]bool // pipeline variables the job does not inherit
	// exprs are the Groovy expressions of pre's values.
	exprs map[string]string
}

// newScope computes the stage scope of one instance of j. dir is the
// job's folder in the workspace.
func newScope(cfg *ci.Config, j *ci.Job, in instance, dir string) *scope {
	s := &scope{unset: map[string]bool{}, exprs: map[string]string{}}
	add := s.set
	own := j.Variables.With(in.vars)
	for _, name := range predefinedUsed(j) {
		if _, ok := own.Get(name); ok {
			continue
		}
		switch name {
		case "CI_JOB_NAME":
			add(name, quote(in.name))
		case "CI_JOB_NAME_SLUG":
			add(name, quote(slug.Ref(in.name)))
		case "CI_JOB_STAGE":
			add(name, quote(j.Stage))
		case "CI_NODE_TOTAL":
			if j.Parallel == nil {
				add(name, "'1'")
			}
		case "CI_PROJECT_DIR":
			add(name, "env.WORKSPACE + "+quote("/"+dir))
		case "CI_JOB_MANUAL":
			if j.When == ci.Manual && j.Rules == nil {
				add(name, "'true'")
			}
		}
	}
	if e := j.Environment; e != nil {
		name := ci.Variable{Name: "CI_ENVIRONMENT_NAME", Value: e.Name}
		add(name.Name, value(name))
		if !strings.Contains(e.Name, "$") {
			add("CI_ENVIRONMENT_SLUG", quote(slug.Environment(e.Name)))
			add("CI_ENVIRONMENT_TIER", quote(cmp.Or(e.DeploymentTier, tier.Guess(e.Name))))
		}
		if e.URL != "" {
			url := ci.Variable{Name: "CI_ENVIRONMENT_URL", Value: e.URL}
			add(url.Name, value(url))
		}
		if e.Action != "" {
			add("CI_ENVIRONMENT_ACTION", quote(e.Action))
		}
	}
	for _, name := range uninherited(cfg, j) {
		s.unset[name] = true
	}
	// The pipeline variables that refer, directly or not, to a name the
	// stage sets are expanded again in the stage.
	local := map[string]bool{}
	for name := range s.exprs {
		local[name] = true
	}
	for _, v := range own {
		local[v.Name] = true
	}
	for name := range s.unset {
		local[name] = true
	}
	var global ci.Variables
	for _, v := range j.GlobalVariables {
		if !isParameter(v) && !local[v.Name] {
			global = append(global, v)
		}
	}
	again := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, v := range global {
			if again[v.Name] {
				continue
			}
			for _, r := range references(v) {
				if local[r] || again[r] {
					again[v.Name], changed = true, true
					break
				}
			}
		}
	}
	var vars ci.Variables
	for _, v := range global {
		if again[v.Name] {
			vars = append(vars, v)
		}
	}
	s.vars = dependencyOrder(vars.With(own))
	return s
}

// set makes the stage set predefined variable name to the Groovy expr.
func (s *scope) set(name, expr string) {
	s.pre = append(s.pre, name+" = "+expr)
	s.exprs[name] = expr
}

// manualRules sets CI_JOB_MANUAL, where the job uses it, for a job that
// its rules make manual: GitLab sets it for every manual job a user
// starts. method is the job's rule method ("" when its rules agree).
func (s *scope) manualRules(j *ci.Job, method string, static outcome, branches []ruleBranch) {
	if j.Rules == nil || !slices.Contains(predefinedUsed(j), "CI_JOB_MANUAL") {
		return
	}
	if _, own := j.Variables.Get("CI_JOB_MANUAL"); own {
		return
	}
	switch manual := indexes(branches, func(o outcome) bool { return o.when == ci.Manual }); {
	case method == "" && static.when == ci.Manual:
		s.set("CI_JOB_MANUAL", "'true'")
	case method != "" && manual != "[]":
		// Jenkins unsets a variable set to ''.
		s.set("CI_JOB_MANUAL", `"${`+method+`() in `+manual+` ? 'true' : ''}"`)
	}
}

// lines writes the stage's environment block.
func (s *scope) lines(c *converter, job string) {
	pre := slices.Clone(s.pre)
	for _, name := range slices.Sorted(maps.Keys(s.unset)) {
		pre = append(pre, name+" = ''") // Jenkins unsets a variable set to ''
	}
	c.environment(pre, s.vars, job)
}

// ref is the Groovy for the value of variable name as the stage sees it,
// for conditions, which Jenkins evaluates before it sets the stage's
// environment: the stage's own values are written out in full.
func (s *scope) ref(name string) (string, bool) {
	return s.refDepth(name, 0)
}

func (s *scope) refDepth(name string, depth int) (string, bool) {
	if e, ok := s.exprs[name]; ok {
		return "(" + e + ")", true
	}
	if s.unset[name] {
		return "null", true
	}
	v, ok := s.vars.Get(name)
	if !ok || depth > 8 {
		return "", false
	}
	return "(" + valueWith(v, func(r string) string {
		if g, ok := s.refDepth(r, depth+1); ok {
			return "(" + g + " ?: '')"
		}
		return `"${env.` + r + ` ?: ''}"`
	}) + ")", true
}

// references are the names v's value refers to.
func references(v ci.Variable) []string {
	if v.Raw || !strings.Contains(v.Value, "$") {
		return nil
	}
	var out []string
	expand.Expand(v.Value, func(name string) (string, bool) {
		out = append(out, name)
		return "", true
	})
	return out
}

// dependencyOrder sorts vars so that a variable comes after those of vars
// it refers to (Jenkins resolves them in any order; the harness and a
// reader in file order), keeping file order otherwise. A cycle keeps its
// file order.
func dependencyOrder(vars ci.Variables) ci.Variables {
	var out ci.Variables
	done := map[string]bool{}
	visiting := map[string]bool{}
	var visit func(v ci.Variable)
	visit = func(v ci.Variable) {
		if done[v.Name] || visiting[v.Name] {
			return
		}
		visiting[v.Name] = true
		for _, r := range references(v) {
			if d, ok := vars.Get(r); ok && r != v.Name {
				visit(d)
			}
		}
		visiting[v.Name] = false
		done[v.Name] = true
		out = append(out, v)
	}
	for _, v := range vars {
		visit(v)
	}
	return out
}

// everyStage are the predefined variables every stage sets for its job.
var everyStage = map[string]bool{"CI_JOB_NAME": true, "CI_JOB_NAME_SLUG": true, "CI_JOB_STAGE": true, "CI_PROJECT_DIR": true}

// pipelineLevel leaves out of the pipeline's variables those that refer,
// directly or not, to a variable every stage sets: each stage expands them
// itself, and the pipeline's environment block could only expand them
// empty.
func pipelineLevel(vars ci.Variables) ci.Variables {
	perStage := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, v := range vars {
			if perStage[v.Name] {
				continue
			}
			for _, r := range references(v) {
				if everyStage[r] || perStage[r] {
					perStage[v.Name], changed = true, true
					break
				}
			}
		}
	}
	var out ci.Variables
	for _, v := range vars {
		if !perStage[v.Name] {
			out = append(out, v)
		}
	}
	return out
}
