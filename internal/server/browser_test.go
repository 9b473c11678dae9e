package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-cd/slipway/internal/store"
)

// browserPipeline has a job that writes its log slowly, in colour, and a
// diamond of needs: compile → (slow-log, unit) → ship.
const browserPipeline = `
stages: [build, test, deploy]
compile:
  stage: build
  script: [echo compiled]
slow-log:
  stage: test
  needs: [compile]
  script:
    - 'for i in $(seq 1 20); do printf "\033[32mline\033[0m %s\n" "$i"; sleep 0.2; done'
unit:
  stage: test
  needs: [compile]
  script: [echo unit]
ship:
  stage: deploy
  needs: [slow-log, unit]
  script: [echo shipped]
`

// TestBrowserPipelineGraphAndLiveLog is what a user sees in Chromium: they
// run a pipeline from the project page, its page draws the graph with the
// needs as edges, the job page's log grows while the job runs and ends
// complete, and the pipeline page, left open, turns green on its own.
func TestBrowserPipelineGraphAndLiveLog(t *testing.T) {
	tab := uiBrowser(t)
	artifacts := uiArtifacts(t)
	s := uiServer(t, "")
	repo := uiRepo(t, map[string]string{".gitlab-ci.yml": browserPipeline})
	p := uiProject(t, s, "shop", repo)
	base := s.URL()

	// Run it from the project page's form.
	uiGo(t, tab, fmt.Sprintf("%s/projects/%d", base, p.ID))
	if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS("#run button[type=submit]"))); err != nil {
		t.Fatalf("pressing Run pipeline: %v", err)
	}
	path := uiEval[string](t, tab, "location.pathname")
	var pipelineID int64
	if _, err := fmt.Sscanf(path, "/pipelines/%d", &pipelineID); err != nil {
		t.Fatalf("Run pipeline went to %s", path)
	}
	pipe, err := s.Store.GetPipeline(context.Background(), pipelineID)
	if err != nil || pipe.Source != store.SourceWeb {
		t.Fatalf("pipeline %d: %v, source %q", pipelineID, err, pipe.Source)
	}
	// A marker that a reload would wipe: the page must update in place.
	uiEval[chromedp.Void](t, tab, "window.slipwayMarker = 42")

	// The graph: three stage columns, four boxes, four edges, all visible.
	uiPoll(t, tab, "the graph's boxes", `document.querySelectorAll("svg.pipeline-graph g.job").length === 4`, 10*time.Second)
	stages := uiEval[[]string](t, tab, `[...document.querySelectorAll("svg.pipeline-graph text.stage")].map(e => e.textContent)`)
	if !slices.Equal(stages, []string{"build", "test", "deploy"}) {
		t.Errorf("stage columns %v", stages)
	}
	edges := uiEval[[]string](t, tab, `[...document.querySelectorAll("svg.pipeline-graph path.need")].map(e => e.dataset.from + "->" + e.dataset.to).sort()`)
	if want := []string{"compile->slow-log", "compile->unit", "slow-log->ship", "unit->ship"}; !slices.Equal(edges, want) {
		t.Errorf("edges %v, want %v", edges, want)
	}
	// Each column to the right of the last: the stages read left to right.
	xs := uiEval[[]float64](t, tab, `["compile","slow-log","ship"].map(n => document.querySelector('g.job[data-job="' + n + '"]').getBoundingClientRect().x)`)
	if !(xs[0] < xs[1] && xs[1] < xs[2]) {
		t.Errorf("box x positions %v: stages not left to right", xs)
	}
	if w := uiEval[float64](t, tab, `document.querySelector("svg.pipeline-graph").getBoundingClientRect().width`); w < 500 {
		t.Errorf("graph is %v px wide", w)
	}
	uiScreenshot(t, tab, artifacts, "pipeline-running")

	// The job page, in a second tab, while the pipeline page stays open.
	href := uiEval[string](t, tab, `document.querySelector('g.job[data-job="slow-log"]').closest("a").getAttribute("href")`)
	jobTab, closeJobTab := chromedp.NewContext(tab)
	defer closeJobTab()
	uiGo(t, jobTab, base+href)
	count := `document.querySelectorAll("#log .line").length`
	uiPoll(t, jobTab, "the first lines of the log", `document.body.textContent.includes("line 3")`, 20*time.Second)
	first := uiEval[int](t, jobTab, count)
	if uiEval[bool](t, jobTab, `document.getElementById("log").textContent.includes("line 20")`) {
		t.Fatalf("the job ended before the log could be seen growing")
	}
	uiScreenshot(t, jobTab, artifacts, "job-running")
	time.Sleep(time.Second)
	second := uiEval[int](t, jobTab, count)
	if second <= first {
		t.Errorf("log did not grow while the job ran: %d lines, then %d", first, second)
	}
	t.Logf("log lines while running: %d, a second later %d", first, second)

	// The end: every line, in colour, and the header says success.
	uiPoll(t, jobTab, "the end of the log", `document.getElementById("log-state").textContent === "log complete"`, 30*time.Second)
	uiPoll(t, jobTab, "the job's status", `document.querySelector("#job-head .badge").textContent === "success"`, 10*time.Second)
	var jobID int64
	fmt.Sscanf(href, "/jobs/%d", &jobID)
	job, err := s.Store.GetJob(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Logs.Read(job.PipelineID, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	lines := uiEval[[]string](t, jobTab, `[...document.querySelectorAll("#log .line")].map(e => e.textContent)`)
	if len(lines) != len(stored) {
		t.Errorf("page shows %d lines, the stored log has %d", len(lines), len(stored))
	}
	for i := 1; i <= 20; i++ {
		if !slices.Contains(lines, fmt.Sprintf("line %d", i)) {
			t.Errorf("line %d missing from the page", i)
		}
	}
	if n := uiEval[int](t, jobTab, `document.querySelectorAll("#log .line .fg-green").length`); n != 20 {
		t.Errorf("%d green words, want 20", n)
	}
	if strings.Contains(strings.Join(lines, "\n"), "\x1b") {
		t.Errorf("escape codes shown as text")
	}
	uiScreenshot(t, jobTab, artifacts, "job-done")

	// The pipeline page was never reloaded and shows the end.
	uiPoll(t, tab, "the pipeline page to show success", `document.querySelector("#live .statusline .badge").textContent === "success"`, 30*time.Second)
	uiPoll(t, tab, "every box green", `document.querySelectorAll("svg.pipeline-graph g.job.status-success").length === 4`, 10*time.Second)
	if uiEval[int](t, tab, "window.slipwayMarker || 0") != 42 {
		t.Errorf("the pipeline page reloaded instead of updating in place")
	}
	uiScreenshot(t, tab, artifacts, "pipeline-done")

	// On a phone: nothing wider than the screen but the graph's own scroller.
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	for _, c := range []struct {
		tab  context.Context
		name string
	}{{tab, "pipeline-phone"}, {jobTab, "job-phone"}} {
		if err := chromedp.Do(c.tab, phone, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		uiPoll(t, c.tab, "the page after reload", `document.readyState === "complete"`, 10*time.Second)
		if w := uiEval[int](t, c.tab, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("%s: the page is %d px wide on a 390 px phone", c.name, w)
		}
		uiScreenshot(t, c.tab, artifacts, c.name)
	}
	// The project page on the phone lists the pipeline and the run form.
	uiGo(t, tab, fmt.Sprintf("%s/projects/%d", base, p.ID))
	uiPoll(t, tab, "the project's pipeline", fmt.Sprintf(`document.querySelector('a[href="/pipelines/%d"]') !== null`, pipelineID), 10*time.Second)
	if w := uiEval[int](t, tab, "document.documentElement.scrollWidth"); w > 390 {
		t.Errorf("project page: %d px wide on a 390 px phone", w)
	}
	uiScreenshot(t, tab, artifacts, "project-phone")
}
