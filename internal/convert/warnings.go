package convert

import (
	"fmt"
	"maps"
	"slices"
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
	if unset := uninherited(c.cfg, j); len(unset) > 0 {
		w("inherit:variables: Jenkins cannot unset pipeline variables in one stage; %s are set to '' there", strings.Join(unset, ", "))
	}
	var missing []string
	for _, name := range predefinedUsed(j) {
		if _, ok := jenkinsVars[name]; !ok && !jobVars[name] && name != "CI" && name != "GITLAB_CI" && !(name == "CI_JOB_STATUS" && usesJobStatus(j)) {
			missing = append(missing, "$"+name)
		}
	}
	if len(missing) > 0 {
		w("uses %s: GitLab predefined variables that Jenkins does not set (empty there)", strings.Join(missing, ", "))
	}
	if len(j.Services) > 0 {
		w("services: not translated (Jenkins has no service containers; use docker.image(...).withRun in a script block)")
	}
	if len(j.Cache) > 0 {
		w("cache: not translated (Jenkins keeps the workspace between stages of one build, not between builds)")
	}
	for _, n := range j.Needs {
		c.warn(n.Pos, j.Name, "needs: %s: not translated; the stage waits for all earlier stages", n.Job)
	}
	if j.Needs != nil && len(j.Needs) == 0 {
		w("needs: []: not translated; the stage waits for all earlier stages")
	}
	if len(j.Dependencies) > 0 {
		w("dependencies: not translated; the stage sees the whole workspace of the earlier stages")
	}
	if e := j.Environment; e != nil {
		c.warn(e.Pos, j.Name, "environment: %s: not translated (Jenkins has no environments or review apps)", e.Name)
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
	if j.ResourceGroup != "" {
		w("resource_group: not translated (Jenkins needs the Lockable Resources plugin: lock(...))")
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
