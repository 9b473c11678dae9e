package ci

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci/expr"
)

// validate checks what needs the whole file: stages, needs, dependencies,
// environments' stop jobs.
func validate(d decoder, cfg *Config) {
	names := make([]string, 0, len(cfg.Jobs))
	byName := map[string]*Job{}
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
		byName[j.Name] = j
	}
	stageIndex := map[string]int{}
	for i, s := range cfg.Stages {
		stageIndex[s] = i
	}
	for _, j := range cfg.Jobs {
		if _, ok := stageIndex[j.Stage]; !ok {
			msg := fmt.Sprintf("job %s: stage %q is not declared in stages (%s)", j.Name, j.Stage, strings.Join(cfg.Stages, ", "))
			if s := didYouMean(j.Stage, cfg.Stages); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errs.add(j.Pos, msg)
		}
	}
	unknown := func(j *Job, pos Pos, what, name string) {
		msg := fmt.Sprintf("job %s: %s unknown job %q", j.Name, what, name)
		if s := didYouMean(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.errs.add(pos, msg)
	}
	for _, j := range cfg.Jobs {
		for _, n := range allNeeds(j) {
			p, ok := byName[n.Job]
			switch {
			case !ok && !n.Optional:
				unknown(j, n.Pos, "needs", n.Job)
			case ok && stageIndex[p.Stage] > stageIndex[j.Stage]:
				d.errs.add(n.Pos, fmt.Sprintf("job %s: needs %q, which is in a later stage (%s)", j.Name, n.Job, p.Stage))
			}
		}
		for _, dep := range j.Dependencies {
			p, ok := byName[dep]
			switch {
			case !ok:
				unknown(j, j.Pos, "dependencies name", dep)
			case stageIndex[p.Stage] > stageIndex[j.Stage]:
				d.errs.add(j.Pos, fmt.Sprintf("job %s: dependency %q is in a later stage (%s)", j.Name, dep, p.Stage))
			}
		}
		if e := j.Environment; e != nil && e.OnStop != "" {
			if stop, ok := byName[e.OnStop]; !ok {
				unknown(j, e.Pos, "environment:on_stop names", e.OnStop)
			} else if stop.Environment == nil || stop.Environment.Action != "stop" {
				d.errs.add(e.Pos, fmt.Sprintf("job %s: on_stop job %q must have environment:action: stop", j.Name, e.OnStop))
			}
		}
	}
	checkNeedsCycles(d, cfg, byName)
	checkVariableSizes(d, cfg)
}

// checkVariableSizes refuses, as planning does, a variable that expands
// past expand.MaxValue, so that `slipway lint` names it too. Predefined and
// run variables are not known yet (they expand to nothing here): planning
// checks again with them.
func checkVariableSizes(d decoder, cfg *Config) {
	seen := map[Pos]bool{}
	check := func(vars Variables) {
		_, err := resolveVars(vars)
		var e *Error
		if errors.As(err, &e) && !seen[e.Pos] {
			seen[e.Pos] = true
			d.errs.add(e.Pos, e.Msg)
		}
	}
	check(cfg.Variables)
	for _, j := range cfg.Jobs {
		check(j.GlobalVariables.With(j.Variables))
	}
}

// allNeeds is the job's needs plus those any rule may set.
func allNeeds(j *Job) []Need {
	out := append([]Need(nil), j.Needs...)
	for _, r := range j.Rules {
		out = append(out, r.Needs...)
	}
	return out
}

func checkNeedsCycles(d decoder, cfg *Config, byName map[string]*Job) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(j *Job, path []string) bool
	visit = func(j *Job, path []string) bool {
		switch state[j.Name] {
		case visiting:
			d.errs.add(j.Pos, fmt.Sprintf("needs cycle: %s -> %s", strings.Join(path, " -> "), j.Name))
			return false
		case done:
			return true
		}
		state[j.Name] = visiting
		for _, n := range allNeeds(j) {
			if p, ok := byName[n.Job]; ok {
				if !visit(p, append(path, j.Name)) {
					state[j.Name] = done
					return false
				}
			}
		}
		state[j.Name] = done
		return true
	}
	for _, j := range cfg.Jobs {
		visit(j, nil)
	}
}

// checkExpr parses a rules:if expression to report syntax errors early.
func checkExpr(s string) error {
	_, err := expr.Parse(s)
	return err
}

// exprPos points at the column of an expression's syntax error when the
// expression is a plain scalar on one line.
func exprPos(n *node, err error) Pos {
	var se *expr.SyntaxError
	if errors.As(err, &se) && se.Col > 0 && !strings.Contains(n.value, "\n") {
		p := n.pos
		p.Col += se.Col - 1
		if n.quoted {
			p.Col++ // the opening quote
		}
		return p
	}
	return n.pos
}

// compileSlashRegex compiles GitLab's /pattern/flags form.
func compileSlashRegex(s string) (*regexp.Regexp, error) {
	end := strings.LastIndex(s, "/")
	if !strings.HasPrefix(s, "/") || end < 1 {
		return nil, fmt.Errorf("bad regular expression %q: write it as /pattern/", s)
	}
	pattern, flags := s[1:end], s[end+1:]
	prefix := ""
	for _, f := range flags {
		switch f {
		case 'i', 'm', 's':
			prefix += string(f)
		default:
			return nil, fmt.Errorf("bad regular expression %q: unknown flag %q", s, f)
		}
	}
	if prefix != "" {
		pattern = "(?" + prefix + ")" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %v", s, err)
	}
	return re, nil
}
