// Package executor defines how one job's scripts are run: on the host
// shell, in Docker containers or in Kubernetes pods. The engine prepares the
// job's working copy, artifacts and cache; an executor only runs scripts in
// it and cleans up whatever it created.
package executor

import (
	"context"
	"io"
	"strings"
	"sync"
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

// SharedLog is the job's log for writers that share it (the script's
// stdout and stderr, services' logs): one write at a time; io.Discard when
// the spec has no Output.
func (s *Spec) SharedLog() io.Writer {
	if s.Output == nil {
		return io.Discard
	}
	return &lockedWriter{w: s.Output}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Vars is the job's Env as a map, to expand its variables in its settings.
func (s *Spec) Vars() map[string]string {
	env := make(map[string]string, len(s.Env))
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
