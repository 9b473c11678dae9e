package convert

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
)

// Warning is a part of the GitLab pipeline the Jenkinsfile does not carry
// out as GitLab would.
type Warning struct {
	Pos ci.Pos
	Job string // empty for pipeline-wide keywords
	Msg string
}

func (w Warning) String() string {
	if w.Job == "" {
		return fmt.Sprintf("%s: %s", w.Pos, w.Msg)
	}
	return fmt.Sprintf("%s: job %s: %s", w.Pos, w.Job, w.Msg)
}

// unsupported warns about every keyword of the job that the Jenkinsfile
// does not carry out.
func (c *converter) unsupported(j *ci.Job) {
	w := func(format string, args ...any) { c.warn(j.Pos, j.Name, format, args...) }
	var missing []string
	for _, name := range predefinedUsed(j) {
		if !provided(j, name) {
			missing = append(missing, "$"+name)
		}
	}
	if len(missing) > 0 {
		w("uses %s: GitLab predefined variables that Jenkins does not set (empty there)", strings.Join(missing, ", "))
	}
	for _, msg := range servicesWarnings(j) {
		w("%s", msg)
	}
	for _, cache := range j.Cache {
		w("%s", cacheLost(cache))
	}
	stageOf := map[string]int{}
	for i, s := range c.cfg.Stages {
		stageOf[s] = i
	}
	for _, n := range j.Needs {
		d := c.cfg.Job(n.Job)
		switch {
		case d == nil:
		case stageOf[d.Stage] < stageOf[j.Stage]:
			c.warn(n.Pos, j.Name, "needs: %s: Jenkins has no job graph; the stage starts once all earlier stages are done, not as soon as %s is (its artifacts are still the only ones it gets)", n.Job, n.Job)
		case d != j:
			c.warn(n.Pos, j.Name, "needs: %s: %s is in the same stage; the stage runs after %s's group of that stage, and so after every job beside %s", n.Job, n.Job, n.Job, n.Job)
		}
	}
	if j.Needs != nil && len(j.Needs) == 0 {
		w("needs: []: Jenkins has no job graph; the stage waits for all earlier stages instead of starting at once")
	}
	if e := j.Environment; e != nil {
		c.warn(e.Pos, j.Name, "environment: %s: Jenkins has no environments: CI_ENVIRONMENT_* are set, but no deployment is recorded and on_stop, auto_stop_in and stop actions do nothing", e.Name)
	}
	if img := j.Image; img != nil {
		if len(img.Entrypoint) > 0 && !slices.Equal(img.Entrypoint, []string{""}) {
			w("image: entrypoint: not translated (a Jenkins docker agent keeps the container running with its own command); only [\"\"] is")
		}
		if slices.Contains(img.PullPolicy, "never") {
			w("image: pull_policy: never: not translated (Jenkins pulls an image that is missing)")
		}
	}
	if len(j.Retry.When) > 0 || len(j.Retry.ExitCodes) > 0 {
		w("retry: when and exit_codes are not translated; Jenkins retries after any failure")
	}
	if len(j.Tags) > 0 {
		w("tags: not translated (choose the Jenkins agent with agent { label ... })")
	}
	if j.Interruptible && !c.allInterruptible() {
		w("interruptible: not translated (Jenkins aborts a build for a newer one only as a whole: all jobs must be interruptible)")
	}
	if j.Coverage != "" {
		w("coverage: not translated")
	}
	if a := j.Artifacts; a != nil {
		if a.Untracked {
			w("artifacts: untracked: not translated")
		}
		if a.ExpireIn != "" {
			w("artifacts: expire_in: not translated (Jenkins keeps artifacts as long as the build)")
		}
		for _, kind := range slices.Sorted(maps.Keys(a.Reports)) {
			if kind != "junit" {
				w("artifacts: reports: %s: not translated", kind)
			}
		}
	}
}

// provided reports whether the Jenkinsfile sets predefined variable name
// for j.
func provided(j *ci.Job, name string) bool {
	_, jenkins := jenkinsVars[name]
	_, constant := constantVars[name]
	switch {
	case jenkins, constant, jobVars[name]:
		return true
	case name == "CI_JOB_STATUS":
		return usesJobStatus(j)
	case name == "CI_JOB_MANUAL":
		return j.When == ci.Manual || slices.ContainsFunc(j.Rules, func(r ci.Rule) bool { return r.When == ci.Manual })
	case name == "CI_ENVIRONMENT_NAME", name == "CI_ENVIRONMENT_URL", name == "CI_ENVIRONMENT_ACTION":
		return j.Environment != nil
	case name == "CI_ENVIRONMENT_SLUG", name == "CI_ENVIRONMENT_TIER":
		return j.Environment != nil && !strings.Contains(j.Environment.Name, "$")
	}
	return false
}

// cacheLost says what of a cache the Jenkinsfile loses: Jenkins has no
// cache between builds, and each job starts from a clean checkout.
func cacheLost(c ci.Cache) string {
	key := "key " + strconv.Quote(cmp.Or(c.Key, "default"))
	if len(c.KeyFiles) > 0 {
		key = "key from the files " + strings.Join(c.KeyFiles, ", ")
		if c.KeyPrefix != "" {
			key += " (prefix " + strconv.Quote(c.KeyPrefix) + ")"
		}
	}
	var lost []string
	if len(c.Paths) > 0 {
		lost = append(lost, "paths "+strings.Join(c.Paths, ", "))
	}
	if c.Untracked {
		lost = append(lost, "the untracked files")
	}
	what := strings.Join(lost, " and ")
	if what == "" {
		what = "nothing"
	}
	return fmt.Sprintf("cache: not translated (Jenkins keeps nothing between builds): %s, %s start empty in every build", key, what)
}
