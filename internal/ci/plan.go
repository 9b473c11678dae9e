package ci

import (
	"fmt"
	"time"
)

// Plan is what one pipeline runs: the jobs that rules and only/except keep,
// parallel and matrix jobs expanded, each with its resolved when,
// allow_failure, needs and variables. The engine works only on a Plan.
type Plan struct {
	Stages []string
	// Variables are the pipeline's predefined variables (CI_COMMIT_SHA...).
	Variables Variables
	// Run are the variables given for this run (CLI, API, schedule): they
	// win over every other variable, dotenv reports included, as pipeline
	// variables do in GitLab.
	Run  Variables
	Jobs []*PlannedJob // stage order, then file order
}

// Job looks up a planned job by name.
func (p *Plan) Job(name string) *PlannedJob {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// PlannedJob is one job instance of a Plan.
type PlannedJob struct {
	Name       string // "build 1/3", "deploy: [aws, eu]"
	Stage      string
	StageIndex int
	Def        *Job // the definition it comes from

	When         When
	StartIn      time.Duration
	AllowFailure AllowFailure

	// Needs names planned jobs; nil means "all jobs of earlier stages".
	Needs []PlannedNeed
	// Dependencies names the planned jobs whose artifacts are restored.
	Dependencies []string

	// Variables are the job's, lowest priority first: inherited global
	// variables, the job's own, matrix and rule variables, CI_JOB_NAME,
	// CI_JOB_STAGE, CI_NODE_INDEX, CI_NODE_TOTAL and CI_ENVIRONMENT_*. The
	// engine layers Plan.Variables, these, dotenv reports, then Plan.Run.
	Variables Variables

	NodeIndex int // 1-based for parallel jobs, 0 otherwise
	NodeTotal int // 1 for ordinary jobs

	pendingNeeds []Need // definition-level needs, until resolved to instances
}

// PlannedNeed is an edge of the DAG.
type PlannedNeed struct {
	Job       string
	Artifacts bool
}

// Select keeps only the named jobs and, with withNeeds, every job they
// need, directly or not. Edges to jobs left out are dropped. Unknown
// names are an error.
func (p *Plan) Select(names []string, withNeeds bool) error {
	keep := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if keep[name] {
			return
		}
		keep[name] = true
		if !withNeeds {
			return
		}
		j := p.Job(name)
		for _, n := range j.Needs {
			add(n.Job)
		}
	}
	for _, n := range names {
		matched := false
		for _, j := range p.Jobs {
			// A parallel job's base name selects all its instances.
			if j.Name == n || j.Def.Name == n {
				add(j.Name)
				matched = true
			}
		}
		if !matched {
			return fmt.Errorf("job %q is not in this pipeline", n)
		}
	}
	var jobs []*PlannedJob
	for _, j := range p.Jobs {
		if !keep[j.Name] {
			continue
		}
		if j.Needs != nil {
			needs := []PlannedNeed{}
			for _, n := range j.Needs {
				if keep[n.Job] {
					needs = append(needs, n)
				}
			}
			j.Needs = needs
		}
		deps := []string{}
		for _, d := range j.Dependencies {
			if keep[d] {
				deps = append(deps, d)
			}
		}
		j.Dependencies = deps
		jobs = append(jobs, j)
	}
	p.Jobs = jobs
	return nil
}
