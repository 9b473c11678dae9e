// Package graph draws a pipeline as SVG on the server: stages as columns,
// jobs as boxes coloured by status, `needs` as edges between them.
package graph

import (
	"fmt"
	"html/template"
	"strings"
)

// Job is one box of the graph.
type Job struct {
	Name   string
	Stage  string
	Status string // success, failed, running, pending, created, skipped, manual, canceled
	URL    string // the job page
	Needs  []string
}

const (
	boxW, boxH = 180, 34
	colGap     = 70
	rowGap     = 14
	headerH    = 30
	pad        = 12
)

// SVG renders the jobs grouped by stage, in the order of stages.
func SVG(stages []string, jobs []Job) template.HTML {
	type place struct{ x, y int }
	at := map[string]place{}
	var cols [][]Job
	for _, s := range stages {
		var col []Job
		for _, j := range jobs {
			if j.Stage == s {
				col = append(col, j)
			}
		}
		if len(col) > 0 {
			cols = append(cols, col)
		}
	}
	maxRows := 0
	for ci, col := range cols {
		maxRows = max(maxRows, len(col))
		for ri, j := range col {
			at[j.Name] = place{pad + ci*(boxW+colGap), pad + headerH + ri*(boxH+rowGap)}
		}
	}
	width := pad*2 + len(cols)*boxW + max(0, len(cols)-1)*colGap
	height := pad*2 + headerH + maxRows*(boxH+rowGap)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="pipeline-graph" role="img" aria-label="pipeline graph" viewBox="0 0 %d %d" width="%d" height="%d">`, width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>`)
	for ci, col := range cols {
		x := pad + ci*(boxW+colGap)
		fmt.Fprintf(&b, `<text class="stage" x="%d" y="%d">%s</text>`, x, pad+16, esc(col[0].Stage))
	}
	// Edges first, so boxes cover their ends.
	for _, j := range jobs {
		to, ok := at[j.Name]
		if !ok {
			continue
		}
		for _, n := range j.Needs {
			from, ok := at[n]
			if !ok {
				continue
			}
			x1, y1 := from.x+boxW, from.y+boxH/2
			x2, y2 := to.x, to.y+boxH/2
			mid := (x1 + x2) / 2
			fmt.Fprintf(&b, `<path class="need" data-from="%s" data-to="%s" d="M %d %d C %d %d, %d %d, %d %d" fill="none" stroke="#888" stroke-width="1.5" marker-end="url(#arrow)"/>`,
				esc(n), esc(j.Name), x1, y1, mid, y1, mid, y2, x2-2, y2)
		}
	}
	for _, col := range cols {
		for _, j := range col {
			p := at[j.Name]
			open, close := "", ""
			if j.URL != "" {
				open, close = fmt.Sprintf(`<a href="%s">`, esc(j.URL)), "</a>"
			}
			fmt.Fprintf(&b, `%s<g class="job status-%s" data-job="%s"><rect x="%d" y="%d" width="%d" height="%d" rx="17" fill="%s" stroke="%s"/><text x="%d" y="%d">%s %s</text></g>%s`,
				open, esc(j.Status), esc(j.Name), p.x, p.y, boxW, boxH, fill(j.Status), stroke(j.Status),
				p.x+14, p.y+22, icon(j.Status), esc(truncate(j.Name, 20)), close)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every user string above is escaped
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func fill(status string) string {
	switch status {
	case "success":
		return "#e6f4ea"
	case "failed":
		return "#fce8e6"
	case "running":
		return "#e8f0fe"
	case "manual":
		return "#fef7e0"
	}
	return "#f1f3f4"
}

func stroke(status string) string {
	switch status {
	case "success":
		return "#1e8e3e"
	case "failed":
		return "#d93025"
	case "running":
		return "#1a73e8"
	case "manual":
		return "#f29900"
	}
	return "#9aa0a6"
}

func icon(status string) string {
	switch status {
	case "success":
		return "✔"
	case "failed":
		return "✖"
	case "running":
		return "●"
	case "manual":
		return "▶"
	case "skipped":
		return "»"
	case "canceled":
		return "⊘"
	}
	return "○"
}
