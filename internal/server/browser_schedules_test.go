package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-cd/slipway/internal/store"
)

// TestBrowserScheduleButtons presses each button of a schedule on its
// project's page: Pause, Resume, Edit, Run now and Delete, and checks what
// the page shows and what the server stored.
func TestBrowserScheduleButtons(t *testing.T) {
	tab := uiBrowser(t)
	artifacts := uiArtifacts(t)
	s := uiServer(t, "")
	p := uiProject(t, s, "nightly", uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"}))
	ctx := context.Background()
	sc, err := s.Store.CreateSchedule(ctx, store.Schedule{ProjectID: p.ID, Description: "nightly build", Cron: "0 2 * * *", Ref: "main",
		Variables: map[string]string{"SUITE": "full"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf("%s/projects/%d", s.URL(), p.ID)
	row := fmt.Sprintf("#schedule-%d", sc.ID)
	press := func(button string) {
		t.Helper()
		if _, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(row+" button[name="+button+"]"))); err != nil {
			t.Fatalf("pressing %s: %v", button, err)
		}
	}
	stored := func() store.Schedule {
		t.Helper()
		got, err := s.Store.GetSchedule(ctx, sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	rowText := func() string { return uiEval[string](t, tab, "document.querySelector('"+row+"').innerText") }

	uiGo(t, tab, page)
	press("pause")
	if got := stored(); got.Active || !strings.Contains(rowText(), "(paused)") {
		t.Fatalf("after Pause: stored active=%v, row %q", got.Active, rowText())
	}
	press("resume")
	if got := stored(); !got.Active || strings.Contains(rowText(), "(paused)") {
		t.Fatalf("after Resume: stored active=%v, row %q", got.Active, rowText())
	}

	uiEval[bool](t, tab, "document.querySelector('"+row+" details').open = true")
	if err := chromedp.Do(tab,
		chromedp.SetValue(chromedp.CSS(row+" input[name=cron]"), "@hourly"),
		chromedp.SetValue(chromedp.CSS(row+" input[name=description]"), "hourly build")); err != nil {
		t.Fatal(err)
	}
	press("save")
	if got := stored(); got.Cron != "@hourly" || got.Description != "hourly build" || got.Variables["SUITE"] != "full" || time.Until(got.NextRunAt) > time.Hour {
		t.Fatalf("after Edit: stored %+v, want @hourly, the new description, the variables kept", got)
	}
	uiScreenshot(t, tab, artifacts, "edited")

	press("run")
	var pipelineID int64
	if _, err := fmt.Sscanf(uiEval[string](t, tab, "location.pathname"), "/pipelines/%d", &pipelineID); err != nil {
		t.Fatalf("Run now went to %s", uiEval[string](t, tab, "location.pathname"))
	}
	pipe, err := s.Store.GetPipeline(ctx, pipelineID)
	if err != nil || pipe.Source != "schedule" || pipe.Variables["SUITE"] != "full" {
		t.Fatalf("Run now made pipeline %+v, %v; want a schedule pipeline with SUITE", pipe, err)
	}
	if got := stored(); got.LastPipelineID == nil || *got.LastPipelineID != pipelineID {
		t.Errorf("last pipeline %v, want %d", got.LastPipelineID, pipelineID)
	}

	uiGo(t, tab, page)
	press("delete")
	if _, err := s.Store.GetSchedule(ctx, sc.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after Delete the schedule is still stored: %v", err)
	}
	if uiEval[bool](t, tab, "document.querySelector('"+row+"') !== null") {
		t.Errorf("after Delete the page still shows the schedule")
	}
}
