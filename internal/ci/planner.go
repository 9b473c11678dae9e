package ci

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci/expand"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/tier"
)

// ErrNoPipeline means workflow:rules kept the pipeline from being created.
var ErrNoPipeline = errors.New("no pipeline for this run")

// errWorkflow means workflow:rules kept the pipeline from being created.
var errWorkflow = fmt.Errorf("%w: workflow:rules matched no rule (or a rule with when: never)", ErrNoPipeline)

// ErrNoJobs means no job's rules or only/except match: GitLab creates no
// pipeline then (nor for one of only .pre and .post jobs).
var ErrNoJobs = fmt.Errorf("%w: no job's rules or only/except match this run", ErrNoPipeline)

func onlyPrePost(jobs []*PlannedJob) bool {
	for _, j := range jobs {
		if j.Stage != ".pre" && j.Stage != ".post" {
			return false
		}
	}
	return true
}

// NewPlan evaluates workflow and job rules (or only/except) for one
// pipeline, expands parallel and matrix jobs and resolves needs and
// dependencies into a Plan.
func NewPlan(cfg *Config, ctx Context) (*Plan, error) {
	p := &Plan{Stages: cfg.Stages, Variables: ctx.Predefined, Run: ctx.Run}
	global := cfg.Variables
	if cfg.Workflow != nil && cfg.Workflow.Rules != nil {
		vars, err := resolveVars(ctx.Predefined, global, ctx.Run)
		if err != nil {
			return nil, err
		}
		res, err := evalRules(cfg.Workflow.Rules, vars, &ctx, "workflow")
		if err != nil {
			return nil, err
		}
		if !res.matched || res.rule.When == Never {
			return nil, errWorkflow
		}
		global = global.With(res.rule.Variables)
	}

	stageIndex := map[string]int{}
	for i, s := range cfg.Stages {
		stageIndex[s] = i
	}
	var errList ErrorList
	instances := map[string][]*PlannedJob{} // definition name -> its planned instances
	for _, def := range cfg.Jobs {
		inherited := inheritFrom(def, cfg.Variables, global)
		for _, inst := range expandParallel(def) {
			pj, err := planJob(def, inst, inherited, stageIndex, &ctx)
			if err != nil {
				errList = errList.add(positioned(err, def.Pos))
				continue
			}
			if pj == nil {
				continue
			}
			instances[def.Name] = append(instances[def.Name], pj)
			p.Jobs = append(p.Jobs, pj)
		}
	}
	if len(errList) > 0 {
		return nil, errList.sorted()
	}
	if onlyPrePost(p.Jobs) {
		return nil, ErrNoJobs
	}
	sort.SliceStable(p.Jobs, func(i, j int) bool { return p.Jobs[i].StageIndex < p.Jobs[j].StageIndex })
	if err := resolveEdges(p, instances); err != nil {
		return nil, err
	}
	return p, nil
}

// inheritFrom applies a job's inherit:variables choice to the workflow-
// adjusted global variables.
func inheritFrom(def *Job, declared, global Variables) Variables {
	if len(def.GlobalVariables) == len(declared) {
		return global
	}
	var out Variables
	for _, g := range global {
		if _, ok := def.GlobalVariables.Get(g.Name); ok {
			out = append(out, g)
		}
	}
	return out
}

// instance is one expansion of a parallel job.
type instance struct {
	name     string
	vars     Variables
	matrix   map[string]string
	index    int
	total    int
	expanded bool
}

func expandParallel(def *Job) []instance {
	p := def.Parallel
	if p == nil {
		return []instance{{name: def.Name, total: 1}}
	}
	if p.Count > 0 {
		out := make([]instance, p.Count)
		for i := range out {
			out[i] = instance{name: fmt.Sprintf("%s %d/%d", def.Name, i+1, p.Count), index: i + 1, total: p.Count, expanded: true}
		}
		return out
	}
	var combos []instance
	for e, entry := range p.Matrix {
		keys := p.MatrixOrder[e]
		combo := []map[string]string{{}}
		for _, k := range keys {
			var next []map[string]string
			for _, c := range combo {
				for _, v := range entry[k] {
					m := map[string]string{}
					for ck, cv := range c {
						m[ck] = cv
					}
					m[k] = v
					next = append(next, m)
				}
			}
			combo = next
		}
		for _, c := range combo {
			vals := make([]string, len(keys))
			var vars Variables
			for i, k := range keys {
				vals[i] = c[k]
				vars = append(vars, Variable{Name: k, Value: c[k]})
			}
			combos = append(combos, instance{name: fmt.Sprintf("%s: [%s]", def.Name, strings.Join(vals, ", ")), vars: vars, matrix: c, expanded: true})
		}
	}
	for i := range combos {
		combos[i].index, combos[i].total = i+1, len(combos)
	}
	return combos
}

// planJob evaluates rules or only/except for one instance; nil means the
// job is not in this pipeline.
func planJob(def *Job, inst instance, global Variables, stageIndex map[string]int, ctx *Context) (*PlannedJob, error) {
	own := global.With(def.Variables).With(inst.vars)
	vars, err := resolveVars(ctx.Predefined, own, ctx.Run)
	if err != nil {
		return nil, err
	}
	pj := &PlannedJob{
		Name: inst.name, Stage: def.Stage, StageIndex: stageIndex[def.Stage], Def: def,
		When: def.When, StartIn: def.StartIn, AllowFailure: def.AllowFailure, NodeTotal: 1,
	}
	needs := def.Needs
	var ruleVars Variables
	switch {
	case def.Rules != nil:
		res, err := evalRules(def.Rules, vars, ctx, "job "+def.Name)
		if err != nil {
			return nil, err
		}
		if !res.matched {
			return nil, nil
		}
		r := res.rule
		if r.When != "" {
			pj.When = r.When
			if r.When == Manual && !def.AllowFailure.Set {
				// A manual rule blocks the pipeline unless it says otherwise.
				pj.AllowFailure = AllowFailure{Set: true}
			}
		}
		if r.AllowFailure != nil {
			pj.AllowFailure = AllowFailure{Set: true, Allowed: *r.AllowFailure}
		}
		if r.StartIn > 0 {
			pj.StartIn = r.StartIn
		}
		if r.Needs != nil {
			needs = r.Needs
		}
		ruleVars = r.Variables
	default:
		only := def.Only
		if only == nil || len(only.Refs) == 0 {
			// GitLab's default when rules are absent: only: [branches, tags].
			o := RefFilter{Refs: []string{"branches", "tags"}}
			if only != nil {
				o.Variables, o.Changes = only.Variables, only.Changes
			}
			only = &o
		}
		ok, err := refFilterMatches(only, vars, ctx)
		if err != nil {
			return nil, fmt.Errorf("job %s: only: %w", def.Name, err)
		}
		if !ok {
			return nil, nil
		}
		if def.Except != nil {
			ok, err := refFilterMatches(def.Except, vars, ctx)
			if err != nil {
				return nil, fmt.Errorf("job %s: except: %w", def.Name, err)
			}
			if ok {
				return nil, nil
			}
		}
	}
	if pj.When == Never {
		return nil, nil
	}
	if pj.When == Manual && !pj.AllowFailure.Set && def.Rules == nil {
		pj.AllowFailure = AllowFailure{Set: true, Allowed: true} // job-level manual is optional
	}
	if pj.When == Delayed && pj.StartIn == 0 {
		return nil, fmt.Errorf("job %s: when: delayed needs start_in", def.Name)
	}
	if inst.expanded {
		pj.NodeIndex, pj.NodeTotal = inst.index, inst.total
	}
	withRules, err := resolveVars(ctx.Predefined, own.With(ruleVars), ctx.Run)
	if err != nil {
		return nil, err
	}
	pj.Variables = own.With(ruleVars).With(jobVariables(pj, def, withRules))
	pj.Needs = nil
	if needs != nil {
		pj.Needs = []PlannedNeed{}
		for _, n := range needs {
			pj.Needs = append(pj.Needs, PlannedNeed{Job: n.Job, Artifacts: n.Artifacts})
		}
		pj.pendingNeeds = needs
	}
	return pj, nil
}

// jobVariables are the predefined variables that belong to one job.
func jobVariables(pj *PlannedJob, def *Job, vars lookup) Variables {
	out := Variables{
		{Name: "CI_JOB_NAME", Value: pj.Name, Raw: true},
		{Name: "CI_JOB_NAME_SLUG", Value: slug.Ref(pj.Name), Raw: true},
		{Name: "CI_JOB_STAGE", Value: pj.Stage, Raw: true},
		{Name: "CI_NODE_TOTAL", Value: strconv.Itoa(pj.NodeTotal), Raw: true},
	}
	if pj.NodeIndex > 0 {
		out = append(out, Variable{Name: "CI_NODE_INDEX", Value: strconv.Itoa(pj.NodeIndex), Raw: true})
	}
	if pj.When == Manual {
		out = append(out, Variable{Name: "CI_JOB_MANUAL", Value: "true", Raw: true})
	}
	if e := def.Environment; e != nil {
		name := expand.Expand(e.Name, vars.get)
		envSlug := slug.Environment(name)
		out = append(out,
			Variable{Name: "CI_ENVIRONMENT_NAME", Value: name, Raw: true},
			Variable{Name: "CI_ENVIRONMENT_SLUG", Value: envSlug, Raw: true},
			Variable{Name: "CI_ENVIRONMENT_ACTION", Value: e.Action, Raw: true},
			Variable{Name: "CI_ENVIRONMENT_TIER", Value: firstNonEmpty(e.DeploymentTier, tier.Guess(name)), Raw: true},
		)
		if e.URL != "" {
			// The URL may use the environment's own variables (GitLab's
			// review/$CI_ENVIRONMENT_SLUG idiom).
			withEnv := func(n string) (string, bool) {
				switch n {
				case "CI_ENVIRONMENT_NAME":
					return name, true
				case "CI_ENVIRONMENT_SLUG":
					return envSlug, true
				}
				return vars.get(n)
			}
			out = append(out, Variable{Name: "CI_ENVIRONMENT_URL", Value: expand.Expand(e.URL, withEnv), Raw: true})
		}
	}
	return out
}

// resolveEdges turns definition-level needs and dependencies into edges
// between planned instances.
func resolveEdges(p *Plan, instances map[string][]*PlannedJob) error {
	var errList ErrorList
	for _, pj := range p.Jobs {
		if pj.pendingNeeds != nil {
			pj.Needs = []PlannedNeed{}
			for _, n := range pj.pendingNeeds {
				targets := selectInstances(instances[n.Job], n.Matrix)
				if len(targets) == 0 {
					if n.Optional {
						continue
					}
					errList = append(errList, &Error{Pos: n.Pos, Msg: fmt.Sprintf("job %s needs %q, which is not in this pipeline (add optional: true if it may be absent)", pj.Name, n.Job)})
					continue
				}
				for _, t := range targets {
					if t.StageIndex > pj.StageIndex {
						errList = append(errList, &Error{Pos: n.Pos, Msg: fmt.Sprintf("job %s needs %q, which is in a later stage", pj.Name, t.Name)})
					}
					pj.Needs = append(pj.Needs, PlannedNeed{Job: t.Name, Artifacts: n.Artifacts})
				}
			}
			pj.pendingNeeds = nil
		}
		switch {
		case pj.Def.Dependencies != nil:
			pj.Dependencies = []string{}
			for _, d := range pj.Def.Dependencies {
				for _, t := range instances[d] {
					pj.Dependencies = append(pj.Dependencies, t.Name)
				}
			}
		case pj.Needs != nil:
			pj.Dependencies = []string{}
			for _, n := range pj.Needs {
				if n.Artifacts {
					pj.Dependencies = append(pj.Dependencies, n.Job)
				}
			}
		default:
			pj.Dependencies = []string{}
			for _, other := range p.Jobs {
				if other.StageIndex < pj.StageIndex {
					pj.Dependencies = append(pj.Dependencies, other.Name)
				}
			}
		}
	}
	if len(errList) > 0 {
		return errList.sorted()
	}
	return nil
}

// selectInstances picks the instances of a (possibly parallel) job that a
// need's matrix selection names.
func selectInstances(all []*PlannedJob, sel []map[string]string) []*PlannedJob {
	if len(sel) == 0 {
		return all
	}
	var out []*PlannedJob
	for _, pj := range all {
		vars := pj.Variables
		for _, s := range sel {
			match := true
			for k, v := range s {
				if got, ok := vars.Get(k); !ok || got.Value != v {
					match = false
				}
			}
			if match {
				out = append(out, pj)
				break
			}
		}
	}
	return out
}

// positioned gives err the job's position unless it names its own (a
// variable's): the message then says where the problem is, once.
func positioned(err error, jobPos Pos) *Error {
	var e *Error
	if errors.As(err, &e) && e.Pos != (Pos{}) {
		return e
	}
	return &Error{Pos: jobPos, Msg: err.Error()}
}
