package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
)

// uiFetch gets path from the server over loopback.
func uiFetch(t *testing.T, s *Server, path string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func uiFetchText(t *testing.T, s *Server, path string, header ...string) (int, string) {
	t.Helper()
	resp := uiFetch(t, s, path, header...)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// uiFinishedJob runs a one-job pipeline that prints script and returns
// its job once the pipeline ended.
func uiFinishedJob(t *testing.T, s *Server, script string) store.Job {
	t.Helper()
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": "job:\n  script:\n    - " + script + "\n"})
	p := uiRun(t, s, uiProject(t, s, "shop", repo), "main", nil)
	uiWait(t, s, p.ID)
	return uiJobs(t, s, p.ID)["job"]
}

// TestOutputLimitCutsTheStoredLog: past output_limit the job goes on and
// succeeds, and its log ends its output with the one line that says so.
func TestOutputLimitCutsTheStoredLog(t *testing.T) {
	s := uiServer(t, "", func(c *Config) { c.OutputLimit = 2000 })
	job := uiFinishedJob(t, s, `for i in $(seq 200); do echo "line $i of a job that talks a lot"; done; echo after-the-limit`)
	if job.Status != store.Success {
		t.Errorf("job %s (%s), want success: the limit must not fail it", job.Status, job.Error)
	}
	_, log := uiFetchText(t, s, fmt.Sprintf("/api/jobs/%d/log", job.ID))
	notice := "Job's log exceeded limit of 2000 bytes. Job execution will continue but no more output will be collected.\n"
	output, after, found := strings.Cut(log, notice)
	if !found || strings.Contains(after, notice) || strings.Contains(log, "\nafter-the-limit") || strings.Contains(log, "line 200 ") {
		t.Fatalf("log not cut once at 2000 bytes:\n%s", log)
	}
	if len(output) > 2001 || !strings.Contains(output, "line 1 of") {
		t.Errorf("%d bytes before the notice, want the job's first output up to 2000", len(output))
	}
	if after != "Job succeeded\n" {
		t.Errorf("after the notice: %q", after)
	}
}

// bigLog replaces a finished job's stored log with size bytes of lines;
// the last line is "the last line".
func bigLog(t *testing.T, s *Server, job store.Job, size int) (lines int) {
	t.Helper()
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "line %07d %s\n", lines, strings.Repeat("x", 80))
		lines++
	}
	b.WriteString("the last line\n")
	path := s.Logs.Path(job.PipelineID, job.ID)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return lines + 1
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// allocated is how many bytes the process allocated so far.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestBigLogIsReadInBoundedMemory: three readers of a 16 MiB log that
// have its first bytes hold little of the server's memory, whether they
// read the raw log or follow its stream, and the job page shows the log's
// end only.
func TestBigLogIsReadInBoundedMemory(t *testing.T) {
	s := uiServer(t, "")
	job := uiFinishedJob(t, s, "echo small")
	const size = 16 << 20
	lines := bigLog(t, s, job, size)

	for _, path := range []string{"/api/jobs/%d/log", "/api/jobs/%d/log/stream"} {
		path := fmt.Sprintf(path, job.ID)
		t.Run(path, func(t *testing.T) {
			before := heapInUse()
			readers := make([]*bufio.Reader, 3)
			for i := range readers {
				resp := uiFetch(t, s, path)
				readers[i] = bufio.NewReaderSize(resp.Body, 64<<10)
				if _, err := readers[i].Peek(64 << 10); err != nil {
					t.Fatal(err)
				}
			}
			// Each server handler is now writing; what it holds is live.
			grown := heapInUse() - before
			t.Logf("3 readers of a %d MiB log: the heap grew by %d KiB", size>>20, grown>>10)
			if grown > 12<<20 {
				t.Errorf("3 readers of a %d MiB log hold %d MiB of heap, want under 12", size>>20, grown>>20)
			}
			var wg sync.WaitGroup
			counts := make([]int, len(readers))
			for i, r := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sc := bufio.NewScanner(r)
					for sc.Scan() {
						if l := sc.Text(); strings.HasPrefix(l, "line ") || strings.HasPrefix(l, "data: line ") {
							counts[i]++
						}
					}
				}()
			}
			wg.Wait()
			for i, n := range counts {
				if n != lines-1 {
					t.Errorf("reader %d got %d lines, want %d", i, n, lines-1)
				}
			}
		})
	}

	t.Run("job page", func(t *testing.T) {
		path := fmt.Sprintf("/jobs/%d", job.ID)
		start := allocated()
		if _, err := io.Copy(io.Discard, uiFetch(t, s, path).Body); err != nil {
			t.Fatal(err)
		}
		cost := allocated() - start
		t.Logf("the page of a %d MiB log allocated %d KiB", size>>20, cost>>10)
		if cost > 16<<20 {
			t.Errorf("the page of a %d MiB log allocated %d MiB, want under 16", size>>20, cost>>20)
		}
		code, page := uiFetchText(t, s, path)
		if code != http.StatusOK || !strings.Contains(page, "the last line") || strings.Contains(page, "line 0000000 ") {
			t.Fatalf("page %d does not show the log's end alone (%d bytes)", code, len(page))
		}
		if !strings.Contains(page, `id="log-cut"`) || !strings.Contains(page, fmt.Sprintf(`href="/api/jobs/%d/log">raw log</a>.`, job.ID)) {
			t.Errorf("the page does not say the log is cut, with a link to the raw log")
		}
		if len(page) > 2<<20 {
			t.Errorf("page of %d bytes for a 1 MiB tail", len(page))
		}
	})
}

// TestLogStreamResumesAtItsOffset: each event's id is the offset after its
// line; a reconnecting browser (Last-Event-ID) or the job page (?from=)
// gets the lines after it and none twice.
func TestLogStreamResumesAtItsOffset(t *testing.T) {
	s := uiServer(t, "")
	job := uiFinishedJob(t, s, "printf 'one\\ntwo\\nthree\\n'")
	_, all := uiFetchText(t, s, fmt.Sprintf("/api/jobs/%d/log/stream", job.ID))
	id, text := "", ""
	for _, l := range strings.Split(all, "\n") {
		if v, ok := strings.CutPrefix(l, "id: "); ok {
			id = v
		}
		if l == "data: two" {
			text = id
			break
		}
	}
	if text == "" {
		t.Fatalf("no id before line two:\n%s", all)
	}
	for _, from := range [][]string{{"?from=" + text}, {"", "Last-Event-ID", text}} {
		_, rest := uiFetchText(t, s, fmt.Sprintf("/api/jobs/%d/log/stream", job.ID)+from[0], from[1:]...)
		if strings.Contains(rest, "data: one") || strings.Contains(rest, "data: two") || !strings.Contains(rest, "data: three") || !strings.HasPrefix(rest, "id: ") {
			t.Errorf("from %s:\n%s", text, rest)
		}
	}
	code, body := uiFetchText(t, s, fmt.Sprintf("/api/jobs/%d/log/stream?from=x1", job.ID))
	if code != http.StatusBadRequest || !strings.Contains(body, `from "x1"`) {
		t.Errorf("a bad offset: %d %s", code, body)
	}
}
