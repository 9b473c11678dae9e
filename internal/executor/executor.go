// Package executor defines how one job's scripts are run: on the host
// shell, in Docker containers or in Kubernetes pods. The engine prepares the
// job's working copy, artifacts and cache; an executor only runs scripts in
// it and cleans up whatever it created.
package executor

import (
	"context"
	"io"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

// Spec is everything an executor needs to run one job attempt.
type Spec struct {
	// JobName is the planned job's name; ID is unique per attempt and safe
	// for names and labels (letters, digits, '-').
	JobName string
	ID      string
	// Dir is the job's working copy on the host; scripts start there. In a
	// container it is mounted at ProjectDir.
	Dir        string
	ProjectDir string
	// Env is the job's expanded variables as KEY=VALUE.
	Env []string
	// Script is before_script followed by script; it stops at the first
	// failing command.
	Script []string
	// AfterScript runs after Script whatever its outcome, in the same
	// environment, with AfterScriptTimeout; its failure is only logged.
	AfterScript        []string
	AfterScriptTimeout time.Duration

	Image    *ci.Image
	Services []ci.Service

	// Output receives the job's combined stdout and stderr, live.
	Output io.Writer
}

// Result is the outcome of Run.
type Result struct {
	// ExitCode of the script (before_script + script); -1 when it did not
	// run to an exit (killed, timed out, failed to start).
	ExitCode int
	// SystemFailure is set when the executor itself failed (cannot start a
	// container, for example): it matches retry:when:runner_system_failure.
	SystemFailure bool
}

// Executor runs jobs. Run returns when Script and AfterScript are done or
// ctx is done; on ctx's end it kills what runs and removes everything it
// created before returning ctx.Err().
type Executor interface {
	Name() string
	Run(ctx context.Context, spec *Spec) (Result, error)
}
