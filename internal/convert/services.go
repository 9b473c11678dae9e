package convert

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// A job's services become the Docker Pipeline plugin's sidecars, as its
// documentation starts a database beside a build: each service runs with
// docker.image(...).withRun, and the job's image with .inside, linked to
// every service container under each of its GitLab aliases, so that the
// scripts reach a service by the names they would in GitLab.

// linkAlias is a name `docker run --link` accepts.
var linkAlias = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// openServices starts the services of u and the job's image linked to
// them; the caller closes the blocks. The steps are in a script block.
func (c *converter) openServices(u *unit) {
	j := u.job
	var links []string
	for i, s := range j.Services {
		id := fmt.Sprintf("service%d", i+1)
		args := quote(serviceArgs(j, u, s))
		if len(s.Command) > 0 {
			args += ", " + quote(shellWords(s.Command))
		}
		c.line("docker.image(%s).withRun(%s) { %s ->", quote(s.Name), args, id)
		c.depth++ // closed by close(), as open's blocks are
		for _, a := range executor.ServiceAliases(s) {
			if linkAlias.MatchString(a) {
				links = append(links, "--link ${"+id+".id}:"+a)
			}
		}
	}
	if j.Image == nil {
		return // warned: the node reaches no service by its alias
	}
	args := links
	if slices.Equal(j.Image.Entrypoint, []string{""}) {
		args = append(args, "--entrypoint=")
	}
	if slices.Contains(j.Image.PullPolicy, "always") {
		c.line("docker.image(%s).pull()", quote(j.Image.Name))
	}
	c.open("docker.image(%s).inside(\"%s\")", quote(j.Image.Name), strings.Join(args, " "))
}

// serviceArgs are the docker run arguments of service s: GitLab gives a
// service the job's variables, then its own, and its entrypoint.
func serviceArgs(j *ci.Job, u *unit, s ci.Service) string {
	names := map[string]bool{}
	for _, v := range j.GlobalVariables.With(j.Variables).With(u.in.vars) {
		if !isParameter(v) {
			names[v.Name] = true
		}
	}
	for name := range u.scope.exprs {
		names[name] = true
	}
	var args []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if _, own := s.Variables.Get(name); !own {
			args = append(args, "-e "+name) // its value in the stage's environment
		}
	}
	for _, v := range s.Variables {
		args = append(args, "-e "+shell.Quote(v.Name+"="+v.Value))
	}
	if len(s.Entrypoint) > 0 {
		args = append(args, "--entrypoint "+shell.Quote(s.Entrypoint[0]))
	}
	return strings.Join(args, " ")
}

// shellWords is the command line of words, each quoted for sh.
func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shell.Quote(w)
	}
	return strings.Join(q, " ")
}

// servicesWarnings are what the sidecars cannot carry out.
func servicesWarnings(j *ci.Job) []string {
	if len(j.Services) == 0 {
		return nil
	}
	var out []string
	if j.Image == nil {
		out = append(out, "services: the job has no image: its steps run on the Jenkins node, which reaches the service containers by no alias (give the job an image)")
	}
	for i, s := range j.Services {
		if len(s.Entrypoint) > 1 {
			out = append(out, fmt.Sprintf("services[%d]: entrypoint: only %q is the entrypoint in docker run; the rest of %q is lost (put it in command)", i, s.Entrypoint[0], s.Entrypoint))
		}
		for _, v := range s.Variables {
			if !v.Raw && strings.Contains(v.Value, "$") {
				out = append(out, fmt.Sprintf("services[%d]: variables: %s: passed as written; the service gets %q, not expanded", i, v.Name, v.Value))
			}
		}
		for _, a := range executor.ServiceAliases(s) {
			if !linkAlias.MatchString(a) {
				out = append(out, fmt.Sprintf("services[%d]: alias %q: docker run --link takes no such name; the service is not reachable by it", i, a))
			}
		}
	}
	if len(j.AfterScript) > 0 {
		out = append(out, "after_script: runs on the Jenkins node, once the services stopped, not in the job's image")
	}
	return out
}
