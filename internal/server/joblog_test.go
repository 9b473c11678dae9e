package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
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
