package ci

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/tier"
)

// DefaultStages are GitLab's stages when `stages:` is not given.
var DefaultStages = []string{".pre", "build", "test", "deploy", ".post"}

var globalKeywords = []string{"stages", "variables", "workflow", "default", "include", "image", "services",
	"cache", "before_script", "after_script", "types", "spec"}

var jobKeywords = []string{"after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage",
	"dast_configuration", "dependencies", "environment", "except", "extends", "hooks", "id_tokens", "identity",
	"image", "inherit", "interruptible", "manual_confirmation", "needs", "only", "pages", "parallel", "release",
	"resource_group", "retry", "rules", "run", "script", "secrets", "services", "stage", "start_in", "tags",
	"timeout", "trigger", "type", "variables", "when"}

// defaultKeywords are the job keywords `default:` may set.
var defaultKeywords = []string{"after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens",
	"image", "interruptible", "retry", "services", "tags", "timeout"}

// build turns the merged, reference-free document into a Config.
func (l *loader) build(file string, root *node) *Config {
	d := decoder{errs: &l.errs}
	cfg := &Config{File: file}

	stages := root.get("stages")
	if stages == nil {
		stages = root.get("types")
	}
	if stages != nil {
		cfg.Stages = append([]string{".pre"}, d.strings(stages, "stages")...)
		cfg.Stages = append(cfg.Stages, ".post")
		cfg.Stages = dedupe(cfg.Stages)
	} else {
		cfg.Stages = append([]string(nil), DefaultStages...)
	}
	cfg.Variables = d.variables(root.get("variables"), "variables")
	if w := root.get("workflow"); w != nil {
		cfg.Workflow = d.workflow(w)
	}

	// Defaults: the `default:` hash, and the deprecated top-level forms.
	defaults := &node{kind: mapNode}
	for _, k := range []string{"image", "services", "cache", "before_script", "after_script"} {
		if v := root.get(k); v != nil {
			defaults.set(&node{kind: scalarNode, value: k}, v)
		}
	}
	if def := root.get("default"); def != nil {
		if d.keys(def, "default", defaultKeywords) {
			defaults = deepMerge(defaults, def)
		}
	}

	jobs := map[string]*node{}
	var order []string
	for i, k := range root.keys {
		if slices.Contains(globalKeywords, k.value) {
			continue
		}
		v := root.vals[i]
		if v.kind != mapNode {
			if strings.HasPrefix(k.value, ".") {
				continue // hidden keys hold anchors of any shape
			}
			msg := fmt.Sprintf("job %q should be a hash of keywords, not %s", k.value, v.kind)
			if s := didYouMean(k.value, globalKeywords); s != "" {
				msg = fmt.Sprintf("unknown keyword %q (did you mean %q?)", k.value, s)
			}
			l.errs.add(k.pos, msg)
			continue
		}
		jobs[k.value] = v
		order = append(order, k.value)
	}

	resolved := map[string]*node{}
	for _, name := range order {
		if strings.HasPrefix(name, ".") {
			continue
		}
		n := l.extend(name, jobs, resolved, nil)
		if n == nil {
			continue
		}
		n = applyDefaults(d, name, n, defaults)
		job := d.job(name, n, root.keys[indexOf(root, name)].pos)
		if job == nil {
			continue
		}
		job.GlobalVariables = inheritedVariables(d, n, cfg.Variables)
		cfg.Jobs = append(cfg.Jobs, job)
	}
	if len(cfg.Jobs) == 0 && len(l.errs.list) == 0 {
		l.errs.add(Pos{File: file, Line: 1, Col: 1}, "the pipeline has no jobs (jobs are hashes whose name does not start with '.')")
	}
	validate(d, cfg)
	return cfg
}

func indexOf(m *node, key string) int {
	for i, k := range m.keys {
		if k.value == key {
			return i
		}
	}
	return -1
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// extend resolves `extends:` of one job: parents merged in order (later
// parents win), then the job itself; hashes merge deeply, arrays replace.
func (l *loader) extend(name string, jobs, resolved map[string]*node, chain []string) *node {
	if r, ok := resolved[name]; ok {
		return r
	}
	n := jobs[name]
	for _, c := range chain {
		if c == name {
			l.errs.add(n.pos, fmt.Sprintf("extends cycle: %s -> %s", strings.Join(chain, " -> "), name))
			return nil
		}
	}
	if len(chain) > 10 {
		l.errs.add(n.pos, fmt.Sprintf("job %s: extends nested more than 11 levels", chain[0]))
		return nil
	}
	ext := n.get("extends")
	if ext == nil {
		resolved[name] = n
		return n
	}
	d := decoder{errs: &l.errs}
	var merged *node
	for _, parent := range d.strings(ext, "job "+name+": extends") {
		if _, ok := jobs[parent]; !ok {
			msg := fmt.Sprintf("job %s: extends unknown job %q", name, parent)
			if s := didYouMean(parent, keysOfMap(jobs)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.errs.add(ext.pos, msg)
			return nil
		}
		pr := l.extend(parent, jobs, resolved, append(chain, name))
		if pr == nil {
			return nil
		}
		merged = deepMerge(merged, pr.without("extends"))
	}
	out := deepMerge(merged, n.without("extends"))
	out.pos = n.pos
	resolved[name] = out
	return out
}

func keysOfMap(m map[string]*node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// applyDefaults fills in `default:` keywords the job does not set, unless
// `inherit:default` says otherwise.
func applyDefaults(d decoder, name string, job, defaults *node) *node {
	allowed := defaultKeywords
	if inh := job.get("inherit"); inh != nil && d.keys(inh, "job "+name+": inherit", []string{"default", "variables"}) {
		if v := inh.get("default"); v != nil {
			switch {
			case v.kind == scalarNode && v.value == "false":
				return job
			case v.kind == scalarNode && v.value == "true":
			case v.kind == seqNode:
				allowed = d.strings(v, "job "+name+": inherit:default")
			default:
				d.bad(v, "job "+name+": inherit:default", "true, false or an array of keywords")
			}
		}
	}
	out := &node{kind: mapNode, pos: job.pos, keys: append([]*node(nil), job.keys...), vals: append([]*node(nil), job.vals...)}
	for i, k := range defaults.keys {
		if slices.Contains(allowed, k.value) && job.get(k.value) == nil {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, defaults.vals[i])
		}
	}
	return out
}

// inheritedVariables is the part of the global variables a job inherits,
// as `inherit:variables` says.
func inheritedVariables(d decoder, job *node, global Variables) Variables {
	inh := job.get("inherit")
	if inh == nil || inh.get("variables") == nil {
		return global
	}
	v := inh.get("variables")
	switch {
	case v.kind == scalarNode && v.value == "false":
		return nil
	case v.kind == scalarNode && v.value == "true":
		return global
	case v.kind == seqNode:
		list := d.strings(v, "inherit:variables")
		var out Variables
		for _, g := range global {
			if slices.Contains(list, g.Name) {
				out = append(out, g)
			}
		}
		return out
	}
	d.bad(v, "inherit:variables", "true, false or an array of variable names")
	return global
}

// job decodes one resolved job hash.
func (d decoder) job(name string, n *node, pos Pos) *Job {
	f := "job " + name
	d.keys(n, f, jobKeywords)
	j := &Job{Name: name, Pos: pos}
	if t := n.get("trigger"); t != nil {
		d.errs.add(t.pos, f+": unsupported: trigger (downstream pipelines)")
		return nil
	}
	j.Stage = d.str(n.get("stage"), f+": stage")
	if j.Stage == "" {
		j.Stage = d.str(n.get("type"), f+": type") // the old name of stage
	}
	if j.Stage == "" {
		j.Stage = "test"
	}
	j.Script = d.script(n.get("script"), f+": script")
	if n.get("script") == nil && n.get("run") == nil {
		d.errs.add(pos, f+": script is required (a job needs script:, run: or trigger:)")
	}
	if r := n.get("run"); r != nil {
		d.errs.add(r.pos, f+": unsupported: run (CI/CD steps)")
	}
	j.BeforeScript = d.script(n.get("before_script"), f+": before_script")
	j.AfterScript = d.script(n.get("after_script"), f+": after_script")
	j.Variables = d.variables(n.get("variables"), f+": variables")
	j.Image = d.image(n.get("image"), f+": image")
	j.Services = d.services(n.get("services"), f+": services")
	j.Rules = d.rules(n.get("rules"), f+": rules")
	j.Only = d.refFilter(n.get("only"), f+": only")
	j.Except = d.refFilter(n.get("except"), f+": except")
	if j.Rules != nil && (j.Only != nil || j.Except != nil) {
		d.errs.add(n.get("rules").pos, f+": rules cannot be used together with only or except")
	}
	if nd := n.get("needs"); nd != nil {
		j.Needs = d.needs(nd, f+": needs")
	}
	if dep := n.get("dependencies"); dep != nil {
		j.Dependencies = d.strings(dep, f+": dependencies")
		if j.Dependencies == nil {
			j.Dependencies = []string{}
		}
	}
	j.When = d.when(n.get("when"), f+": when", OnSuccess, OnFailure, Always, Manual, Delayed, Never)
	if j.When == "" {
		j.When = OnSuccess
	}
	j.StartIn = d.duration(n.get("start_in"), f+": start_in")
	if j.When == Delayed && n.get("start_in") == nil {
		d.errs.add(n.get("when").pos, f+": when: delayed needs start_in")
	}
	j.AllowFailure = d.allowFailure(n.get("allow_failure"), f+": allow_failure")
	j.Retry = d.retry(n.get("retry"), f+": retry")
	j.Timeout = d.duration(n.get("timeout"), f+": timeout")
	j.Parallel = d.parallel(n.get("parallel"), f+": parallel")
	j.Artifacts = d.artifacts(n.get("artifacts"), f+": artifacts")
	j.Cache = d.caches(n.get("cache"), f+": cache")
	j.Environment = d.environment(n.get("environment"), f+": environment")
	j.Tags = d.strings(n.get("tags"), f+": tags")
	if v := n.get("interruptible"); v != nil {
		j.Interruptible = d.boolean(v, f+": interruptible")
	}
	j.ResourceGroup = d.str(n.get("resource_group"), f+": resource_group")
	j.Coverage = d.str(n.get("coverage"), f+": coverage")
	if j.Coverage != "" {
		if _, err := compileSlashRegex(j.Coverage); err != nil {
			d.errs.add(n.get("coverage").pos, fmt.Sprintf("%s: coverage: %v", f, err))
		}
	}
	return j
}

func (d decoder) image(n *node, f string) *Image {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind == scalarNode {
		return &Image{Name: n.value}
	}
	if !d.keys(n, f, []string{"name", "entrypoint", "pull_policy", "docker", "kubernetes"}) {
		return nil
	}
	img := &Image{Name: d.str(n.get("name"), f+":name"), Entrypoint: d.strings(n.get("entrypoint"), f+":entrypoint")}
	img.PullPolicy = d.strings(n.get("pull_policy"), f+":pull_policy")
	for _, p := range img.PullPolicy {
		if p != "always" && p != "if-not-present" && p != "never" {
			d.errs.add(n.get("pull_policy").pos, fmt.Sprintf("%s:pull_policy: unknown value %q (always, if-not-present or never)", f, p))
		}
	}
	if img.Name == "" {
		d.errs.add(n.pos, f+": name is required")
	}
	return img
}

func (d decoder) services(n *node, f string) []Service {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind != seqNode {
		d.bad(n, f, "an array")
		return nil
	}
	var out []Service
	for _, it := range n.items {
		if it.kind == scalarNode {
			out = append(out, Service{Name: it.value})
			continue
		}
		if !d.keys(it, f, []string{"name", "alias", "command", "entrypoint", "variables", "pull_policy", "docker", "kubernetes"}) {
			continue
		}
		s := Service{
			Name:       d.str(it.get("name"), f+":name"),
			Alias:      d.str(it.get("alias"), f+":alias"),
			Command:    d.strings(it.get("command"), f+":command"),
			Entrypoint: d.strings(it.get("entrypoint"), f+":entrypoint"),
			Variables:  d.variables(it.get("variables"), f+":variables"),
		}
		if s.Name == "" {
			d.errs.add(it.pos, f+": name is required")
		}
		out = append(out, s)
	}
	return out
}

func (d decoder) workflow(n *node) *Workflow {
	if !d.keys(n, "workflow", []string{"name", "rules", "auto_cancel"}) {
		return nil
	}
	return &Workflow{Name: d.str(n.get("name"), "workflow:name"), Rules: d.rules(n.get("rules"), "workflow:rules"), Pos: n.pos}
}

var ruleKeywords = []string{"if", "changes", "exists", "when", "allow_failure", "start_in", "variables", "needs", "interruptible"}

func (d decoder) rules(n *node, f string) []Rule {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind != seqNode {
		d.bad(n, f, "an array of rules")
		return nil
	}
	out := []Rule{}
	for i, it := range n.items {
		rf := fmt.Sprintf("%s[%d]", f, i)
		if it.kind == nullNode {
			continue
		}
		if !d.keys(it, rf, ruleKeywords) {
			continue
		}
		r := Rule{Pos: it.pos}
		if c := it.get("if"); c != nil {
			r.If = d.str(c, rf+":if")
			r.IfPos = c.pos
			if err := checkExpr(r.If); err != nil {
				d.errs.add(exprPos(c, err), fmt.Sprintf("%s:if: %v", rf, err))
			}
		}
		if c := it.get("changes"); c != nil {
			if c.kind == mapNode {
				d.keys(c, rf+":changes", []string{"paths", "compare_to"})
				r.Changes = d.strings(c.get("paths"), rf+":changes:paths")
				r.CompareTo = d.str(c.get("compare_to"), rf+":changes:compare_to")
			} else {
				r.Changes = d.strings(c, rf+":changes")
			}
			if r.Changes == nil {
				r.Changes = []string{}
			}
		}
		if e := it.get("exists"); e != nil {
			if e.kind == mapNode {
				d.keys(e, rf+":exists", []string{"paths", "project", "ref"})
				r.Exists = d.strings(e.get("paths"), rf+":exists:paths")
			} else {
				r.Exists = d.strings(e, rf+":exists")
			}
			if r.Exists == nil {
				r.Exists = []string{}
			}
		}
		r.When = d.when(it.get("when"), rf+":when", OnSuccess, OnFailure, Always, Manual, Delayed, Never)
		if a := it.get("allow_failure"); a != nil {
			b := d.boolean(a, rf+":allow_failure")
			r.AllowFailure = &b
		}
		r.StartIn = d.duration(it.get("start_in"), rf+":start_in")
		r.Variables = d.variables(it.get("variables"), rf+":variables")
		if nd := it.get("needs"); nd != nil {
			r.Needs = d.needs(nd, rf+":needs")
		}
		out = append(out, r)
	}
	return out
}

func (d decoder) refFilter(n *node, f string) *RefFilter {
	if n == nil || n.kind == nullNode {
		return nil
	}
	rf := &RefFilter{Pos: n.pos}
	if n.kind != mapNode {
		rf.Refs = d.strings(n, f)
	} else {
		d.keys(n, f, []string{"refs", "variables", "changes", "kubernetes"})
		rf.Refs = d.strings(n.get("refs"), f+":refs")
		rf.Variables = d.strings(n.get("variables"), f+":variables")
		for _, e := range rf.Variables {
			if err := checkExpr(e); err != nil {
				d.errs.add(n.get("variables").pos, fmt.Sprintf("%s:variables: %v", f, err))
			}
		}
		if c := n.get("changes"); c != nil {
			rf.Changes = d.strings(c, f+":changes")
		}
		rf.Kubernetes = d.str(n.get("kubernetes"), f+":kubernetes")
	}
	for _, r := range rf.Refs {
		if strings.HasPrefix(r, "/") {
			if _, err := compileSlashRegex(r); err != nil {
				d.errs.add(n.pos, fmt.Sprintf("%s: %v", f, err))
			}
		}
	}
	return rf
}

func (d decoder) needs(n *node, f string) []Need {
	if n.kind == nullNode {
		return []Need{}
	}
	if n.kind != seqNode {
		d.bad(n, f, "an array")
		return []Need{}
	}
	out := []Need{}
	for _, it := range n.items {
		switch it.kind {
		case scalarNode:
			out = append(out, Need{Job: it.value, Artifacts: true, Pos: it.pos})
		case mapNode:
			d.keys(it, f, []string{"job", "artifacts", "optional", "pipeline", "project", "ref", "parallel"})
			if it.get("pipeline") != nil || it.get("project") != nil {
				d.errs.add(it.pos, f+": unsupported: needs from other pipelines or projects")
				continue
			}
			nd := Need{Job: d.str(it.get("job"), f+":job"), Artifacts: true, Pos: it.pos}
			if a := it.get("artifacts"); a != nil {
				nd.Artifacts = d.boolean(a, f+":artifacts")
			}
			if o := it.get("optional"); o != nil {
				nd.Optional = d.boolean(o, f+":optional")
			}
			if p := it.get("parallel"); p != nil {
				if m := p.get("matrix"); m != nil && m.kind == seqNode {
					for _, e := range m.items {
						sel := map[string]string{}
						if e.kind == mapNode {
							for i, k := range e.keys {
								sel[k.value] = d.str(e.vals[i], f+":parallel:matrix")
							}
						}
						nd.Matrix = append(nd.Matrix, sel)
					}
				} else {
					d.bad(p, f+":parallel", "a hash with matrix")
				}
			}
			if nd.Job == "" {
				d.errs.add(it.pos, f+": job is required")
				continue
			}
			out = append(out, nd)
		default:
			d.bad(it, f+" entries", "job names or hashes")
		}
	}
	return out
}

func (d decoder) allowFailure(n *node, f string) AllowFailure {
	if n == nil || n.kind == nullNode {
		return AllowFailure{}
	}
	if n.kind == mapNode {
		d.keys(n, f, []string{"exit_codes"})
		a := AllowFailure{Set: true}
		for _, s := range d.strings(n.get("exit_codes"), f+":exit_codes") {
			c, err := strconv.Atoi(s)
			if err != nil {
				d.errs.add(n.get("exit_codes").pos, f+":exit_codes should be whole numbers")
				continue
			}
			a.ExitCodes = append(a.ExitCodes, c)
		}
		return a
	}
	return AllowFailure{Set: true, Allowed: d.boolean(n, f)}
}

var retryWhen = []string{"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
	"runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure",
	"unmet_prerequisites", "scheduler_failure", "data_integrity_failure"}

func (d decoder) retry(n *node, f string) Retry {
	if n == nil || n.kind == nullNode {
		return Retry{}
	}
	var r Retry
	if n.kind == scalarNode {
		r.Max = d.integer(n, f)
	} else if d.keys(n, f, []string{"max", "when", "exit_codes"}) {
		r.Max = d.integer(n.get("max"), f+":max")
		r.When = d.strings(n.get("when"), f+":when")
		for _, w := range r.When {
			if !slices.Contains(retryWhen, w) {
				d.errs.add(n.get("when").pos, fmt.Sprintf("%s:when: unknown failure type %q", f, w))
			}
		}
		for _, s := range d.strings(n.get("exit_codes"), f+":exit_codes") {
			c, err := strconv.Atoi(s)
			if err != nil {
				d.errs.add(n.get("exit_codes").pos, f+":exit_codes should be whole numbers")
				continue
			}
			r.ExitCodes = append(r.ExitCodes, c)
		}
	}
	if r.Max < 0 || r.Max > 2 {
		d.errs.add(n.pos, f+": max must be 0, 1 or 2 (GitLab's limit)")
	}
	return r
}

func (d decoder) parallel(n *node, f string) *Parallel {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind == scalarNode {
		c := d.integer(n, f)
		if c < 1 || c > 200 {
			d.errs.add(n.pos, f+" must be between 1 and 200")
			return nil
		}
		return &Parallel{Count: c}
	}
	if !d.keys(n, f, []string{"matrix"}) {
		return nil
	}
	m := n.get("matrix")
	if m == nil || m.kind != seqNode {
		d.errs.add(n.pos, f+":matrix should be an array of hashes")
		return nil
	}
	p := &Parallel{}
	for _, e := range m.items {
		if e.kind != mapNode {
			d.bad(e, f+":matrix entries", "hashes")
			continue
		}
		entry := map[string][]string{}
		var order []string
		for i, k := range e.keys {
			entry[k.value] = d.strings(e.vals[i], f+":matrix:"+k.value)
			order = append(order, k.value)
		}
		p.Matrix = append(p.Matrix, entry)
		p.MatrixOrder = append(p.MatrixOrder, order)
	}
	return p
}

func (d decoder) artifacts(n *node, f string) *Artifacts {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if !d.keys(n, f, []string{"paths", "exclude", "expire_in", "expose_as", "name", "public", "access", "reports", "untracked", "when"}) {
		return nil
	}
	a := &Artifacts{
		Name:     d.str(n.get("name"), f+":name"),
		Paths:    d.strings(n.get("paths"), f+":paths"),
		Exclude:  d.strings(n.get("exclude"), f+":exclude"),
		ExpireIn: d.str(n.get("expire_in"), f+":expire_in"),
		ExposeAs: d.str(n.get("expose_as"), f+":expose_as"),
	}
	if u := n.get("untracked"); u != nil {
		a.Untracked = d.boolean(u, f+":untracked")
	}
	a.When = string(d.when(n.get("when"), f+":when", OnSuccess, OnFailure, Always))
	if a.ExpireIn != "" && a.ExpireIn != "never" {
		if _, err := ParseDuration(a.ExpireIn); err != nil {
			d.errs.add(n.get("expire_in").pos, fmt.Sprintf("%s:expire_in: %v", f, err))
		}
	}
	if r := n.get("reports"); r != nil && d.keys(r, f+":reports", reportKinds) {
		a.Reports = map[string][]string{}
		for i, k := range r.keys {
			if r.vals[i].kind == mapNode {
				continue // coverage_report: {coverage_format, path}
			}
			a.Reports[k.value] = d.strings(r.vals[i], f+":reports:"+k.value)
		}
		a.Dotenv = a.Reports["dotenv"]
	}
	return a
}

var reportKinds = []string{"accessibility", "annotations", "api_fuzzing", "browser_performance", "coverage_report",
	"codequality", "container_scanning", "coverage_fuzzing", "cyclonedx", "dast", "dependency_scanning", "dotenv",
	"junit", "license_scanning", "load_performance", "metrics", "requirements", "repository_xray", "sast",
	"secret_detection", "terraform", "performance", "cluster_image_scanning"}

func (d decoder) caches(n *node, f string) []Cache {
	if n == nil || n.kind == nullNode {
		return nil
	}
	items := []*node{n}
	if n.kind == seqNode {
		items = n.items
	}
	var out []Cache
	for _, it := range items {
		if !d.keys(it, f, []string{"key", "paths", "untracked", "policy", "when", "unprotect", "fallback_keys"}) {
			continue
		}
		c := Cache{Paths: d.strings(it.get("paths"), f+":paths"), Policy: "pull-push", When: "on_success"}
		if k := it.get("key"); k != nil {
			if k.kind == mapNode {
				d.keys(k, f+":key", []string{"files", "prefix"})
				c.KeyFiles = d.strings(k.get("files"), f+":key:files")
				c.KeyPrefix = d.str(k.get("prefix"), f+":key:prefix")
				if len(c.KeyFiles) == 0 || len(c.KeyFiles) > 2 {
					d.errs.add(k.pos, f+":key:files takes one or two files")
				}
			} else {
				c.Key = d.str(k, f+":key")
			}
		}
		if u := it.get("untracked"); u != nil {
			c.Untracked = d.boolean(u, f+":untracked")
		}
		if p := it.get("policy"); p != nil {
			c.Policy = d.str(p, f+":policy")
			if c.Policy != "pull" && c.Policy != "push" && c.Policy != "pull-push" && !strings.Contains(c.Policy, "$") {
				d.errs.add(p.pos, fmt.Sprintf("%s:policy: unknown value %q (pull, push or pull-push)", f, c.Policy))
			}
		}
		if w := d.when(it.get("when"), f+":when", OnSuccess, OnFailure, Always); w != "" {
			c.When = string(w)
		}
		c.Fallback = d.strings(it.get("fallback_keys"), f+":fallback_keys")
		out = append(out, c)
	}
	return out
}

func (d decoder) environment(n *node, f string) *Environment {
	if n == nil || n.kind == nullNode {
		return nil
	}
	if n.kind == scalarNode {
		return &Environment{Name: n.value, Action: "start", Pos: n.pos}
	}
	if !d.keys(n, f, []string{"name", "url", "on_stop", "action", "auto_stop_in", "deployment_tier", "kubernetes"}) {
		return nil
	}
	e := &Environment{
		Name:           d.str(n.get("name"), f+":name"),
		URL:            d.str(n.get("url"), f+":url"),
		OnStop:         d.str(n.get("on_stop"), f+":on_stop"),
		Action:         d.str(n.get("action"), f+":action"),
		AutoStopIn:     d.str(n.get("auto_stop_in"), f+":auto_stop_in"),
		DeploymentTier: d.str(n.get("deployment_tier"), f+":deployment_tier"),
		Pos:            n.pos,
	}
	if e.Name == "" {
		d.errs.add(n.pos, f+": name is required")
	}
	if e.Action == "" {
		e.Action = "start"
	}
	if !slices.Contains([]string{"start", "prepare", "stop", "verify", "access"}, e.Action) {
		d.errs.add(n.get("action").pos, fmt.Sprintf("%s:action: unknown value %q (start, prepare, stop, verify or access)", f, e.Action))
	}
	if e.DeploymentTier != "" && !tier.Valid(e.DeploymentTier) {
		d.errs.add(n.get("deployment_tier").pos, fmt.Sprintf("%s:deployment_tier: unknown value %q (production, staging, testing, development or other)", f, e.DeploymentTier))
	}
	if e.AutoStopIn != "" && e.AutoStopIn != "never" {
		if _, err := ParseDuration(e.AutoStopIn); err != nil {
			d.errs.add(n.get("auto_stop_in").pos, fmt.Sprintf("%s:auto_stop_in: %v", f, err))
		}
	}
	return e
}
