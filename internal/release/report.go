package release

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Status is the state of a component in a release, or of the release.
type Status string

// Component and release statuses. A component is skipped when its
// pipeline's rules create no pipeline for the release (a dry run, say);
// not_started when an earlier group failed or the run was canceled first.
const (
	Planned    Status = "planned"
	Success    Status = "success"
	Failed     Status = "failed"
	Skipped    Status = "skipped"
	NotStarted Status = "not_started"
	Canceled   Status = "canceled"
)

// Report is a release run. Its JSON is `slipway release --report`; other
// tools read it, so fields are only ever added.
type Report struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	DryRun     bool              `json:"dry_run"`
	Status     Status            `json:"status"`
	StartedAt  time.Time         `json:"started_at,omitzero"`
	DurationMS int64             `json:"duration_ms"`
	Components []ComponentReport `json:"components"`
}

// ComponentReport is one component of a release run.
type ComponentReport struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	PullRequest string `json:"pull_request,omitempty"`
	Group       int    `json:"group"`
	Repo        string `json:"repo"`
	Ref         string `json:"ref"`
	RefKind     string `json:"ref_kind"`
	Commit      string `json:"commit"`
	Status      Status `json:"status"`
	// Reason says why a component failed, was skipped or did not start.
	Reason     string    `json:"reason,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	DurationMS int64     `json:"duration_ms"`
	// PipelineReport is the component pipeline's `slipway run --report`
	// JSON, and Log its job logs.
	PipelineReport string `json:"pipeline_report,omitempty"`
	Log            string `json:"log,omitempty"`
	// Tag is the tag a real run pushed (or found) on Commit; empty for a
	// pre-release version that is not tagged, whose build is Commit.
	Tag string `json:"tag,omitempty"`
	// TagMoved says Tag is a pre-release's moving tag, moved to Commit.
	TagMoved bool `json:"tag_moved,omitempty"`
}

// Report is the plan as a report whose components are all planned.
func (p *Plan) Report(dryRun bool) *Report {
	r := &Report{Name: p.Manifest.Name, Version: p.Manifest.Version, DryRun: dryRun, Status: Planned, Components: []ComponentReport{}}
	for _, group := range p.Groups {
		for _, t := range group {
			r.Components = append(r.Components, ComponentReport{
				Name: t.Name, Version: t.Version, PullRequest: t.PullRequest, Group: t.Group,
				Repo: t.Repo, Ref: t.Ref, RefKind: t.RefKind, Commit: t.Commit, Status: Planned,
			})
		}
	}
	return r
}

// Save writes the report as indented JSON to path.
func (r *Report) Save(path string) error { return writeJSON(path, r) }

// Component returns the report of the component called name, nil if there
// is none.
func (r *Report) Component(name string) *ComponentReport {
	for i := range r.Components {
		if r.Components[i].Name == name {
			return &r.Components[i]
		}
	}
	return nil
}

// WritePlan prints the ordered groups with each component's ref and
// commit.
func (p *Plan) WritePlan(w io.Writer, dryRun bool) error {
	mode := "real run: each group's repositories are tagged with their release versions once the group succeeded"
	if dryRun {
		mode = "dry run: RELEASE_DRY_RUN=true, nothing is tagged"
	}
	fmt.Fprintf(w, "Release %s %s (%s)\n", p.Manifest.Name, p.Manifest.Version, mode)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, group := range p.Groups {
		fmt.Fprintf(tw, "group %d\n", i+1)
		for _, t := range group {
			fmt.Fprintf(tw, "  %s\t%s\t%s (%s)\t%s\t%s\n", t.Name, t.Version, t.Ref, t.RefKind, short(t.Commit), t.Repo)
		}
	}
	return tw.Flush()
}

// WriteSummary prints one line per component: its status, duration and
// why it failed or did not start.
func (r *Report) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tCOMPONENT\tVERSION\tREF\tCOMMIT\tSTATUS\tDURATION\tDETAIL")
	for _, c := range r.Components {
		detail := c.Reason
		if c.Tag != "" {
			detail = "tagged " + c.Tag
		}
		if detail == "" {
			detail = c.Log
		}
		dur := "-"
		if !c.StartedAt.IsZero() {
			dur = (time.Duration(c.DurationMS) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Group, c.Name, c.Version, c.Ref, short(c.Commit), c.Status, dur, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Release %s %s: %s in %s\n", r.Name, r.Version, r.Status, time.Duration(r.DurationMS)*time.Millisecond)
	return err
}

func short(sha string) string { return sha[:min(len(sha), 12)] }
