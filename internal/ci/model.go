// Package ci is the GitLab CI dialect: it loads a .gitlab-ci.yml (anchors,
// !reference, include, extends, default, inherit) once into typed structs that
// keep source positions, validates them, evaluates rules for one pipeline and
// plans the jobs to run (stages plus the needs DAG).
package ci

import (
	"fmt"
	"time"
)

// Pos is a place in a source file, 1-based.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Variable is one CI/CD variable in definition order.
type Variable struct {
	Name        string
	Value       string
	Description string
	// Raw means the value is taken as it is, without $VAR expansion
	// (GitLab's `expand: false`).
	Raw bool
	Pos Pos
}

// Variables keeps definition order, which matters for expansion.
type Variables []Variable

// Get returns the last definition of name.
func (vs Variables) Get(name string) (Variable, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Name == name {
			return vs[i], true
		}
	}
	return Variable{}, false
}

// With returns vs with the definitions of more layered on top: a name
// defined again takes the later value and keeps its first place.
func (vs Variables) With(more Variables) Variables {
	out := make(Variables, 0, len(vs)+len(more))
	out = append(out, vs...)
	for _, v := range more {
		replaced := false
		for i := range out {
			if out[i].Name == v.Name {
				out[i] = v
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, v)
		}
	}
	return out
}

// When says when a job runs relative to the jobs before it.
type When string

const (
	OnSuccess When = "on_success"
	OnFailure When = "on_failure"
	Always    When = "always"
	Manual    When = "manual"
	Delayed   When = "delayed"
	Never     When = "never"
)

// Config is a whole pipeline file after includes, extends, default and
// inherit are resolved and hidden jobs are dropped. It does not depend on
// the pipeline's variables; Plan does.
type Config struct {
	File      string
	Stages    []string
	Variables Variables
	Workflow  *Workflow
	Jobs      []*Job // in file order
}

// Job looks up a job by name.
func (c *Config) Job(name string) *Job {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Workflow is the top-level `workflow:` keyword.
type Workflow struct {
	Name  string
	Rules []Rule
	Pos   Pos
}

// Job is one job definition as written (after extends and default).
type Job struct {
	Name string
	Pos  Pos

	Stage        string
	Image        *Image
	Services     []Service
	BeforeScript []string
	Script       []string
	AfterScript  []string
	Variables    Variables
	// GlobalVariables are the file's global variables this job inherits
	// (all of them unless `inherit:variables` says otherwise).
	GlobalVariables Variables

	Rules  []Rule
	Only   *RefFilter
	Except *RefFilter

	// Needs is nil when the job has no `needs:` and then waits for the
	// stages before it; an empty non-nil slice starts it at once.
	Needs []Need
	// Dependencies is nil when unset (all artifacts of earlier stages or
	// of the needs); empty means none.
	Dependencies []string

	When         When
	StartIn      time.Duration
	AllowFailure AllowFailure
	Retry        Retry
	Timeout      time.Duration
	Parallel     *Parallel

	Artifacts   *Artifacts
	Cache       []Cache
	Environment *Environment

	Tags          []string
	Interruptible bool
	ResourceGroup string
	Coverage      string
}

// Image is a job's `image:`.
type Image struct {
	Name       string
	Entrypoint []string
	PullPolicy []string
}

// Service is one of a job's `services:`.
type Service struct {
	Name       string
	Alias      string
	Command    []string
	Entrypoint []string
	Variables  Variables
}

// Rule is one entry of `rules:`. Nil fields were not given.
type Rule struct {
	If           string
	IfPos        Pos
	Changes      []string
	CompareTo    string
	Exists       []string
	When         When // empty: the job's own when
	AllowFailure *bool
	StartIn      time.Duration
	Variables    Variables
	Needs        []Need // non-nil replaces the job's needs
	Pos          Pos
}

// RefFilter is `only:` or `except:`.
type RefFilter struct {
	Refs       []string
	Variables  []string // expressions, any true matches
	Changes    []string
	Kubernetes string
	Pos        Pos
}

// Need is one entry of `needs:`.
type Need struct {
	Job       string
	Artifacts bool // default true
	Optional  bool
	// Matrix picks some expansions of a parallel:matrix job.
	Matrix []map[string]string
	Pos    Pos
}

// AllowFailure is `allow_failure:`: a bool or a list of exit codes.
type AllowFailure struct {
	Set       bool // given explicitly (manual jobs default to true otherwise)
	Allowed   bool
	ExitCodes []int
}

// Allows reports whether a job that ended with exitCode may fail.
func (a AllowFailure) Allows(exitCode int) bool {
	if len(a.ExitCodes) > 0 {
		for _, c := range a.ExitCodes {
			if c == exitCode {
				return true
			}
		}
		return false
	}
	return a.Allowed
}

// Retry is `retry:`.
type Retry struct {
	Max       int
	When      []string // empty means always
	ExitCodes []int
}

// Parallel is `parallel:`: a count or a matrix.
type Parallel struct {
	Count  int
	Matrix []map[string][]string
	// MatrixOrder keeps each matrix entry's keys in file order.
	MatrixOrder [][]string
}

// Artifacts is `artifacts:`.
type Artifacts struct {
	Name      string
	Paths     []string
	Exclude   []string
	Untracked bool
	When      string // on_success (default), on_failure, always
	ExpireIn  string
	ExposeAs  string
	Dotenv    []string // reports: dotenv
	Reports   map[string][]string
}

// Cache is one entry of `cache:`.
type Cache struct {
	Key       string
	KeyFiles  []string
	KeyPrefix string
	Paths     []string
	Untracked bool
	Policy    string // pull-push (default), pull, push
	When      string // on_success (default), on_failure, always
	Fallback  []string
}

// Environment is a job's `environment:`.
type Environment struct {
	Name           string
	URL            string
	OnStop         string
	Action         string // start (default), prepare, stop, verify, access
	AutoStopIn     string
	DeploymentTier string
	Pos            Pos
}

// UsesExists reports whether any rule looks at rules:exists, which needs
// the list of the commit's files.
func (c *Config) UsesExists() bool {
	rules := []Rule{}
	if c.Workflow != nil {
		rules = append(rules, c.Workflow.Rules...)
	}
	for _, j := range c.Jobs {
		rules = append(rules, j.Rules...)
	}
	for _, r := range rules {
		if r.Exists != nil {
			return true
		}
	}
	return false
}
