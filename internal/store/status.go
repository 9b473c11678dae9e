package store

// Status is the state of a pipeline or a job, with GitLab's names (the same
// strings as engine.Status).
type Status string

// Pipeline and job statuses.
const (
	Created  Status = "created"
	Pending  Status = "pending"
	Running  Status = "running"
	Success  Status = "success"
	Failed   Status = "failed"
	Canceled Status = "canceled"
	Skipped  Status = "skipped"
	Manual   Status = "manual"
)

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool {
	switch s {
	case Created, Pending, Running, Success, Failed, Canceled, Skipped, Manual:
		return true
	}
	return false
}

// Finished reports whether s is final for a job: nothing runs it any more.
// A manual job is not finished: it waits to be played.
func (s Status) Finished() bool {
	switch s {
	case Success, Failed, Canceled, Skipped:
		return true
	}
	return false
}

// Active reports whether a pipeline or job in status s is still wanted by
// a running engine (what a server restart interrupts).
func (s Status) Active() bool {
	return s == Created || s == Pending || s == Running
}

// finishedSQL lists the finished statuses for SQL IN clauses.
const finishedSQL = "('success', 'failed', 'canceled', 'skipped')"

// Failure reasons of jobs, with GitLab's names (values of retry:when).
const (
	ScriptFailure       = "script_failure"
	JobExecutionTimeout = "job_execution_timeout"
	RunnerSystemFailure = "runner_system_failure"
)
