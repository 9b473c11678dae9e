package graph

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestSVGDrawsStagesJobsAndNeeds(t *testing.T) {
	out := string(SVG([]string{"build", "test", "deploy"}, []Job{
		{Name: "compile", Stage: "build", Status: "success", URL: "/jobs/1"},
		{Name: "unit <script>", Stage: "test", Status: "failed", Needs: []string{"compile"}},
		{Name: "lint", Stage: "test", Status: "running"},
		{Name: "ship", Stage: "deploy", Status: "manual", Needs: []string{"unit <script>", "ghost"}},
	}))
	// It must be well-formed XML (an SVG document).
	if err := xml.Unmarshal([]byte(out), new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`>build</text>`, `>test</text>`, `>deploy</text>`,
		`class="job status-failed" data-job="unit &lt;script&gt;"`,
		`data-from="compile" data-to="unit &lt;script&gt;"`,
		`data-from="unit &lt;script&gt;" data-to="ship"`,
		`<a href="/jobs/1">`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("SVG lacks %s", want)
		}
	}
	if strings.Contains(out, "<script>") {
		t.Error("a job name reached the SVG unescaped")
	}
	if strings.Count(out, `class="need"`) != 2 {
		t.Errorf("want 2 edges (the need on a job not in the graph is dropped):\n%s", out)
	}
}
