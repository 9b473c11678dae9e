package workspace

import (
	"context"
	"os"
	"path/filepath"

	"github.com/slipway-cd/slipway/internal/ci"
)

// LoadPipeline loads the pipeline file (relative to the repository root)
// of a commit, with the local files it includes, from a snapshot of the
// commit that it removes afterwards.
func LoadPipeline(ctx context.Context, repo, commit, file string) (*ci.Config, error) {
	tmp, err := os.MkdirTemp("", "slipway-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	snap, err := Extract(ctx, repo, commit, tmp)
	if err != nil {
		return nil, err
	}
	return LoadSnapshotPipeline(snap, file)
}

// LoadSnapshotPipeline loads the pipeline file (relative to the repository
// root) of an extracted commit, with the local files it includes.
func LoadSnapshotPipeline(snap *Snapshot, file string) (*ci.Config, error) {
	return ci.Load(filepath.Join(snap.Dir, file), ci.LoadOptions{ProjectDir: snap.Dir})
}
