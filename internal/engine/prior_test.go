package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
)

// priorOf keeps the finished jobs of res except those named, as a server
// does to resume a pipeline.
func priorOf(res *Result, except ...string) map[string]JobResult {
	prior := map[string]JobResult{}
	for _, j := range res.Jobs {
		keep := j.Status == Success || j.Status == Failed || j.Status == Manual
		for _, e := range except {
			if j.Name == e {
				keep = false
			}
		}
		if keep {
			prior[j.Name] = j
		}
	}
	return prior
}

func TestResumePlaysABlockingManualJob(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"a", "b", "c"},
		newJob("build", "a", "mkdir -p out", "echo FLAVOR=blue > build.env", "echo built > out/app").def(func(d *ci.Job) {
			d.Artifacts = &ci.Artifacts{Paths: []string{"out/"}, Dotenv: []string{"build.env"}}
		}),
		newJob("gate", "b", "echo gate opened").when(ci.Manual),
		newJob("ship", "c", `cat out/app`, `echo "flavor $FLAVOR"`),
	)
	p.Job("gate").AllowFailure = ci.AllowFailure{Set: true}
	first := r.run(context.Background(), p)
	want(t, first, map[string]Status{"build": Success, "gate": Manual, "ship": Skipped})

	// Play the gate: build is not run again, its artifacts and dotenv reach ship.
	r.opts.Prior = priorOf(first, "gate")
	r.opts.Manual = []string{"gate"}
	r.opts.PipelineID = first.PipelineID
	second := r.run(context.Background(), p)
	want(t, second, map[string]Status{"build": Success, "gate": Success, "ship": Success})
	if second.Status != Success {
		t.Errorf("pipeline %s", second.Status)
	}
	if log := r.rec.log("ship"); !strings.Contains(log, "built") || !strings.Contains(log, "flavor blue") {
		t.Errorf("ship did not get build's artifacts and dotenv:\n%s", log)
	}
	if n := strings.Count(r.rec.log("build"), "$ echo built"); n != 1 {
		t.Errorf("build ran %d times, want once", n)
	}
}

func TestResumeRetriesAFailedJob(t *testing.T) {
	r := newRunner(t, nil)
	p := plan([]string{"a", "b"},
		newJob("flaky", "a", `test -f /tmp/slipway-never-there-`+t.Name()),
		newJob("other", "a", "true"),
		newJob("after", "b", "true"),
	)
	first := r.run(context.Background(), p)
	want(t, first, map[string]Status{"flaky": Failed, "other": Success, "after": Skipped})

	p.Job("flaky").Def.Script = []string{"true"} // the retry succeeds
	r.opts.Prior = priorOf(first, "flaky")
	r.opts.PipelineID = first.PipelineID
	second := r.run(context.Background(), p)
	want(t, second, map[string]Status{"flaky": Success, "other": Success, "after": Success})
}
