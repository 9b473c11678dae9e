package convert

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// jenkinsVars are GitLab's predefined variables that have a counterpart in
// a Jenkins multibranch pipeline, as Groovy expressions (null when unset).
// Others (CI_PIPELINE_SOURCE, CI_DEFAULT_BRANCH...) have none. A change
// request's build is named PR-N there: like GitLab's merge request
// pipelines, it has no branch, and its ref is the source branch.
var jenkinsVars = map[string]string{
	"CI_COMMIT_BRANCH":     "(env.TAG_NAME || env.CHANGE_ID ? null : env.BRANCH_NAME)",
	"CI_COMMIT_REF_NAME":   "(env.CHANGE_BRANCH ?: env.BRANCH_NAME)",
	"CI_COMMIT_TAG":        "env.TAG_NAME",
	"CI_COMMIT_SHA":        "env.GIT_COMMIT",
	"CI_COMMIT_SHORT_SHA":  "env.GIT_COMMIT?.take(8)",
	"CI_MERGE_REQUEST_IID": "env.CHANGE_ID",
	"CI_PIPELINE_ID":       "env.BUILD_NUMBER",
	"CI_PIPELINE_IID":      "env.BUILD_NUMBER",
	"CI_PIPELINE_URL":      "env.BUILD_URL",
	// GitLab's slugify: lower-cased, every character but a-z and 0-9 a
	// "-", cut to 63, without "-" at either end.
	"CI_COMMIT_REF_SLUG":                  "(env.CHANGE_BRANCH ?: env.BRANCH_NAME ?: '').toLowerCase().replaceAll('[^a-z0-9]', '-').take(63).replaceAll('^-+|-+$', '')",
	"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "env.CHANGE_BRANCH",
	"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "env.CHANGE_TARGET",
	"CI_MERGE_REQUEST_TITLE":              "env.CHANGE_TITLE",
}

// constantVars are predefined variables with the same value in every
// GitLab pipeline.
var constantVars = map[string]string{"CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes"}

// isParameter reports whether a global variable becomes a build parameter:
// GitLab offers the variables with a description in its Run pipeline form,
// and a value given there wins over the file's, as a Jenkins parameter
// does (one set again in an environment block would not). A value with
// references is kept in the environment, where it is expanded.
func isParameter(v ci.Variable) bool {
	return v.Description != "" && expand.IsName(v.Name) && (v.Raw || !strings.Contains(v.Value, "$"))
}

// environment writes an environment block: first the lines of pre
// (NAME = expression), then vars.
func (c *converter) environment(pre []string, vars ci.Variables, job string) {
	lines := pre
	for _, v := range vars {
		switch {
		case !expand.IsName(v.Name):
			c.warn(v.Pos, job, "variable %q: not a valid Jenkins environment name; left out", v.Name)
		case !classNames[v.Name]:
			lines = append(lines, v.Name+" = "+value(v))
		}
	}
	if len(lines) == 0 {
		return // Jenkins refuses an empty environment block
	}
	c.open("environment")
	for _, l := range lines {
		c.line("%s", l)
	}
	c.close()
}

// classNames are variable names Groovy reads as a class in an environment
// block (URL = ... assigns to java.net.URL); they are set with withEnv
// around the job's sh steps instead.
var classNames = map[string]bool{"URL": true, "URI": true, "UUID": true}

// withEnv returns the withEnv wrapper for the job's variables named like
// classes, or "" when it has none.
func withEnv(j *ci.Job, in instance) string {
	var global ci.Variables
	for _, v := range j.GlobalVariables {
		if !isParameter(v) { // a parameter keeps the value given for the build
			global = append(global, v)
		}
	}
	var list []string
	for _, v := range global.With(j.Variables).With(in.vars) {
		if classNames[v.Name] {
			list = append(list, quote(v.Name+"=")+" + "+value(v))
		}
	}
	if len(list) == 0 {
		return ""
	}
	return "withEnv([" + strings.Join(list, ", ") + "])"
}

// uninherited are the pipeline variables j does not inherit.
func uninherited(cfg *ci.Config, j *ci.Job) []string {
	var out []string
	for _, g := range cfg.Variables {
		if _, ok := j.GlobalVariables.Get(g.Name); !ok && !slices.Contains(out, g.Name) {
			out = append(out, g.Name)
		}
	}
	return out
}

// jobVars are the predefined variables each stage sets for its job.
var jobVars = map[string]bool{"CI_JOB_NAME": true, "CI_JOB_NAME_SLUG": true, "CI_JOB_STAGE": true, "CI_NODE_INDEX": true, "CI_NODE_TOTAL": true, "CI_PROJECT_DIR": true}

// predefinedRef finds uses of GitLab's predefined variables in scripts
// and values: $CI_X, ${CI_X} and ${CI_X:-...}.
var predefinedRef = regexp.MustCompile(`\$\{?(CI|GITLAB_CI|CI_[A-Za-z0-9_]+|GITLAB_[A-Za-z0-9_]+)\b`)

// predefinedUsed returns the predefined variables that j's scripts,
// variables and image refer to, in order of first use, leaving out those
// the file defines itself and CI_NODE_* of parallel jobs, which their
// stages set.
func predefinedUsed(j *ci.Job) []string {
	vars := j.GlobalVariables.With(j.Variables)
	texts := slices.Concat(j.BeforeScript, j.Script, j.AfterScript)
	for _, v := range vars {
		if !v.Raw {
			texts = append(texts, v.Value)
		}
	}
	if j.Image != nil {
		texts = append(texts, j.Image.Name)
	}
	var out []string
	for _, t := range texts {
		for _, m := range predefinedRef.FindAllStringSubmatch(t, -1) {
			name := m[1]
			_, own := vars.Get(name)
			if own || slices.Contains(out, name) || (j.Parallel != nil && strings.HasPrefix(name, "CI_NODE_")) {
				continue
			}
			out = append(out, name)
		}
	}
	return out
}

// pipelinePredefined are the environment lines for the predefined
// variables with a Jenkins counterpart that any job uses.
func (c *converter) pipelinePredefined() []string {
	used := map[string]bool{}
	for _, j := range c.cfg.Jobs {
		for _, name := range predefinedUsed(j) {
			used[name] = true
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(used)) {
		if _, own := c.cfg.Variables.Get(name); own {
			continue
		}
		switch g, ok := jenkinsVars[name]; {
		case constantVars[name] != "":
			out = append(out, name+" = "+quote(constantVars[name]))
		case ok:
			out = append(out, name+` = "${`+g+` ?: ''}"`)
		}
	}
	return out
}
