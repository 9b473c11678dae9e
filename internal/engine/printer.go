package engine

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

// Printer writes a run's events as text for a terminal or a CI log: every
// line after its job's name, each job's end, and a summary table of every
// job's status and duration when the pipeline finishes. Its Handle is an
// Options.Events sink.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

// NewPrinter returns a Printer writing to w; plan sets the width of the
// job name column.
func NewPrinter(w io.Writer, plan *ci.Plan) *Printer {
	p := &Printer{w: w}
	if plan != nil {
		for _, j := range plan.Jobs {
			p.width = max(p.width, len(j.Name))
		}
	}
	p.width = min(p.width, 30)
	return p
}

// Handle prints one event.
func (p *Printer) Handle(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case JobStarted:
		if e.Attempt > 1 {
			p.line(e.Job, fmt.Sprintf("--- attempt %d (job %d)", e.Attempt, e.JobID))
		}
	case JobLog:
		p.line(e.Job, e.Line)
	case JobFinished:
		r := e.JobResult
		msg := string(r.Status)
		if r.Status == Success || r.Status == Failed || r.Status == Canceled {
			msg += " in " + round(r.Duration)
		}
		if r.Detail != "" && r.Status != Success {
			msg += ": " + r.Detail
		}
		if r.Status == Failed && r.AllowFailure {
			msg += " (allowed to fail)"
		}
		p.line(e.Job, "=== "+printable(msg))
	case PipelineFinished:
		p.summary(e.Result)
	}
}

func (p *Printer) line(job, text string) {
	fmt.Fprintf(p.w, "%-*s | %s\n", p.width, printable(job), text)
}

func (p *Printer) summary(r *Result) {
	fmt.Fprintln(p.w)
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTAGE\tSTATUS\tDURATION\tDETAIL")
	for _, j := range r.Jobs {
		dur, detail := "-", j.Detail
		if j.Attempts > 0 {
			dur = round(j.Duration)
		}
		if j.Status == Failed && j.AllowFailure {
			detail = strings.TrimSpace(detail + " (allowed to fail)")
		}
		if j.Attempts > 1 {
			detail = strings.TrimSpace(fmt.Sprintf("%s (%d attempts)", detail, j.Attempts))
		}
		if j.Status == Success {
			detail = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(j.Name), printable(j.Stage), j.Status, dur, printable(detail))
	}
	tw.Flush()
	fmt.Fprintf(p.w, "Pipeline #%d %s in %s\n", r.PipelineID, r.Status, round(r.Duration))
}

func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
