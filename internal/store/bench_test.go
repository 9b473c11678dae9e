package store_test

import (
	"context"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// BenchmarkPipelineStart is the store's share of "webhook received → first
// job started": a pipeline, its three jobs, the first one started.
//
//	go test -run '^$' -bench PipelineStart ./internal/store/
func BenchmarkPipelineStart(b *testing.B) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, url(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p, err := s.CreateProject(ctx, store.Project{Name: "web", RepoURL: "file:///srv/web.git"})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				pl, err := s.CreatePipeline(ctx, store.Pipeline{ProjectID: p.ID, Source: store.SourcePush, Ref: "main", SHA: "abcd"})
				if err != nil {
					b.Fatal(err)
				}
				var first store.Job
				for i, name := range []string{"build", "test", "deploy"} {
					j, err := s.CreateJob(ctx, store.Job{PipelineID: pl.ID, Name: name, Stage: name})
					if err != nil {
						b.Fatal(err)
					}
					if i == 0 {
						first = j
					}
				}
				if _, err := s.SetPipelineStatus(ctx, pl.ID, store.Running, ""); err != nil {
					b.Fatal(err)
				}
				if _, err := s.StartJob(ctx, first.ID, store.JobStart{Server: store.Server{Name: "srv"}, Executor: "shell", LogPath: "/tmp/log"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
