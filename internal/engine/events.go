package engine

import (
	"bytes"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

// Event kinds, in the order a job goes through them.
const (
	PipelineStarted  EventKind = "pipeline_started"
	JobCreated       EventKind = "job_created"
	JobStarted       EventKind = "job_started" // once per attempt
	JobLog           EventKind = "job_log"     // one line of output, without its newline
	JobFinished      EventKind = "job_finished"
	PipelineFinished EventKind = "pipeline_finished"
)

// Event is the engine's only output: logs, the UI, the API and metrics are
// all built from the stream of events of a run.
type Event struct {
	Kind       EventKind
	Time       time.Time
	PipelineID int64

	// Job fields are set for job events.
	Job     string
	Stage   string
	JobID   int64 // CI_JOB_ID of the attempt (JobStarted, JobLog)
	Attempt int   // 1-based (JobStarted, JobLog)
	Line    string
	// Continued: Line is a piece of a longer line, which goes on in the
	// job's next JobLog event (secrets must be looked for across them).
	Continued bool
	Status    Status // JobCreated: created; JobFinished: the final status

	// JobResult is set on JobFinished, Result on PipelineFinished.
	JobResult *JobResult
	Result    *Result
}

// emitter hands events to the sink one at a time, so that sinks need no
// locking of their own.
type emitter struct {
	mu         sync.Mutex
	sink       func(Event)
	pipelineID int64
}

func (e *emitter) emit(ev Event) {
	if e.sink == nil {
		return
	}
	ev.PipelineID = e.pipelineID
	e.mu.Lock()
	defer e.mu.Unlock()
	ev.Time = time.Now()
	e.sink(ev)
}

// maxLine is the longest JobLog line; longer output is cut into several.
const maxLine = 16 << 10

// lineWriter turns a job's output into JobLog events, one per line.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line string, continued bool)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLine {
				w.emit(string(w.buf[:maxLine]), true)
				w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emitBuf()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a last line that has no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emitBuf()
	}
}

func (w *lineWriter) emitBuf() {
	line := bytes.TrimSuffix(w.buf, []byte{'\r'})
	for len(line) > maxLine {
		w.emit(string(line[:maxLine]), true)
		line = line[maxLine:]
	}
	w.emit(string(line), false)
	w.buf = w.buf[:0]
}
