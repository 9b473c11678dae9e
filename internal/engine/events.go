package engine

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
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

// printable escapes the control characters of a line the engine writes
// itself, as Go quotes them (\n, \r, \x1b): a newline or carriage return
// in a branch or job name would start a line of its own in the log, which
// would pass for the job's or the engine's. Tabs stay.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isControl: C0 and C1 controls but the tab, and the Unicode line and
// paragraph separators, which some viewers take for newlines.
func isControl(r rune) bool {
	return r != '\t' && unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// maxLine is the longest JobLog line; longer output is cut into several.
const maxLine = 16 << 10

// DefaultOutputLimit is how many bytes of a job's output are kept when
// Options.OutputLimit is 0: 4 MiB, GitLab Runner's default output_limit.
const DefaultOutputLimit = 4 << 20

// LimitNotice is the line that ends the output of a job past its limit.
func LimitNotice(limit int64) string {
	return fmt.Sprintf("Job's log exceeded limit of %d bytes. Job execution will continue but no more output will be collected.", limit)
}

// lineWriter turns a job's output into JobLog events, one per line. Past
// limit bytes (when limit > 0) it says so once and drops the rest.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte // the line so far, at most maxLine bytes
	limit int64
	seen  int64 // bytes of output taken so far
	cut   bool  // the limit was reached: output is dropped
	emit  func(line string, continued bool)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if w.cut {
		return n, nil
	}
	if w.limit > 0 && int64(len(p)) > w.limit-w.seen {
		w.lines(p[:runeCut(p, w.limit-w.seen)])
		w.flush()
		w.emit(LimitNotice(w.limit), false)
		w.cut = true
		return n, nil
	}
	w.seen += int64(n)
	w.lines(p)
	return n, nil
}

// runeCut is where to cut p at most n bytes in, backing off from the middle
// of a UTF-8 character so that the last line kept stays valid text.
func runeCut(p []byte, n int64) int {
	i := int(n)
	for back := 0; back < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(p[i]); back++ {
		i--
	}
	return i
}

// lines emits each whole line of p and each maxLine piece of a longer one;
// the rest waits in buf. p is scanned and copied once, whatever the
// length of its lines.
func (w *lineWriter) lines(p []byte) {
	for len(p) > 0 {
		line, rest, found := bytes.Cut(p, []byte{'\n'})
		w.add(line)
		if found {
			w.emitBuf()
		}
		p = rest
	}
}

// add appends part of a line to buf, first emitting a full buf as a piece
// that the next one continues.
func (w *lineWriter) add(p []byte) {
	for len(p) > 0 {
		if len(w.buf) == maxLine {
			w.emit(string(w.buf), true)
			w.buf = w.buf[:0]
		}
		take := min(len(p), maxLine-len(w.buf))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
	}
}

// Flush emits a last line that has no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush()
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emitBuf()
	}
}

func (w *lineWriter) emitBuf() {
	w.emit(string(bytes.TrimSuffix(w.buf, []byte{'\r'})), false)
	w.buf = w.buf[:0]
}
