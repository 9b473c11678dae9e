package server_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// BenchmarkWebhookToFirstJob measures, over 50 signed GitHub pushes to a
// real server (SQLite), the time from sending the webhook to the moment the
// first job is recorded as started. Target: median under 100 ms.
func BenchmarkWebhookToFirstJob(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchWebhook(b)
	}
}

func benchWebhook(b *testing.B) {
	b.StopTimer()
	tb := testing.TB(b)
	repo, sha := gitRepo(tb, map[string]string{".gitlab-ci.yml": "first:\n  script: [echo hi]\n"})
	s := startServer(tb, storetest.SQLiteURL(b), b.TempDir(), "")
	newProject(tb, s, repo)
	var latencies []time.Duration
	for n := 0; n < 50; n++ {
		start := time.Now()
		code, p := githubPush(tb, s, sha, "")
		if code != 202 {
			b.Fatalf("push %d: %d", n, code)
		}
		var started time.Time
		for {
			var view struct {
				Jobs []struct {
					StartedAt *time.Time `json:"started_at"`
				} `json:"jobs"`
			}
			s.do("GET", fmt.Sprintf("/api/pipelines/%d", p.ID), nil, &view)
			if len(view.Jobs) > 0 && view.Jobs[0].StartedAt != nil {
				started = *view.Jobs[0].StartedAt
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		latencies = append(latencies, started.Sub(start))
		s.waitPipeline(p.ID, finished)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	median := latencies[len(latencies)/2]
	b.ReportMetric(float64(median.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(latencies[len(latencies)*9/10].Microseconds())/1000, "ms-p90")
	b.Logf("webhook -> first job started over %d pushes: median %s, p90 %s, min %s, max %s",
		len(latencies), median.Round(time.Millisecond), latencies[len(latencies)*9/10].Round(time.Millisecond),
		latencies[0].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}
