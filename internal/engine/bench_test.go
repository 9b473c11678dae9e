package engine

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
)

// echoPlan is the benchmark pipeline: 20 echo jobs over two stages.
func echoPlan() []job {
	var jobs []job
	for i := range 20 {
		stage := "one"
		if i >= 10 {
			stage = "two"
		}
		jobs = append(jobs, newJob(fmt.Sprintf("job-%02d", i), stage, fmt.Sprintf("echo job %d", i)))
	}
	return jobs
}

// BenchmarkPipeline20Echo runs the 20-job, 2-stage echo pipeline; compare
// with BenchmarkPlainShLoop (docs/engine.md quotes both).
func BenchmarkPipeline20Echo(b *testing.B) {
	for _, conc := range []int{1, 4, 10} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			r := newRunner(b, map[string]string{"README": "bench\n", "src/main.go": "package main\n"})
			r.opts.Concurrency = conc
			r.opts.Events = nil
			p := plan([]string{"one", "two"}, echoPlan()...)
			b.ResetTimer()
			for b.Loop() {
				res, err := Run(context.Background(), p, r.opts)
				if err != nil || res.Status != Success {
					b.Fatalf("%v %+v", err, res)
				}
			}
		})
	}
}

// BenchmarkPlainShLoop is the baseline: 20 `sh -c` calls in a row.
func BenchmarkPlainShLoop(b *testing.B) {
	for b.Loop() {
		for i := range 20 {
			if err := exec.Command("sh", "-c", fmt.Sprintf("echo job %d", i)).Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
