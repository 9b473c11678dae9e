package pipelines

import (
	"runtime"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/joblog"
)

// logRecorder is a recorder that writes job 1's log under a temp folder.
func logRecorder(tb testing.TB, secrets ...string) *recorder {
	r := &recorder{s: &Service{Logs: &joblog.Store{Dir: tb.TempDir()}}, ids: map[string]int64{"job": 1}}
	r.setSecrets(secrets)
	return r
}

// sendLongLine hands r one line of n bytes the way the engine cuts it:
// 16 KiB pieces, each continued by the next.
func sendLongLine(r *recorder, n int, piece string) {
	for ; n > len(piece); n -= len(piece) {
		r.handle(engine.Event{Kind: engine.JobLog, Job: "job", Line: piece, Continued: true})
	}
	r.handle(engine.Event{Kind: engine.JobLog, Job: "job", Line: piece[:n]})
}

// TestLongLineCostsItsLength: the pieces of a line are gathered once each:
// an 8 MiB line cost gigabytes of copies when each piece was added to all
// the pieces before it. It is stored as one line, masked whole.
func TestLongLineCostsItsLength(t *testing.T) {
	r := logRecorder(t, "straddling-secret-42")
	piece := strings.Repeat("x", 16<<10)
	const n = 8 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sendLongLine(r, n, piece)
	runtime.ReadMemStats(&after)
	if cost := after.TotalAlloc - before.TotalAlloc; cost > 8*n {
		t.Errorf("an %d MiB line allocated %d MiB, want a few times its length", n>>20, cost>>20)
	}
	r.handle(engine.Event{Kind: engine.JobLog, Job: "job", Line: strings.Repeat("y", 16<<10-5) + "straddl", Continued: true})
	r.handle(engine.Event{Kind: engine.JobLog, Job: "job", Line: "ing-secret-42 end"})
	lines, err := r.s.Logs.Read(0, 1)
	if err != nil || len(lines) != 2 || len(lines[0]) != n {
		t.Fatalf("stored %d lines: %v", len(lines), err)
	}
	if !strings.HasSuffix(lines[1], "y"+joblog.Mask+" end") {
		t.Errorf("a secret across a cut is not masked: %q", lines[1][len(lines[1])-40:])
	}
}

// BenchmarkLongLine stores one line of 8 MiB without a newline, as the
// engine hands it over in 16 KiB pieces.
func BenchmarkLongLine(b *testing.B) {
	r := logRecorder(b)
	piece := strings.Repeat("x", 16<<10)
	b.SetBytes(8 << 20)
	for b.Loop() {
		sendLongLine(r, 8<<20, piece)
	}
}
