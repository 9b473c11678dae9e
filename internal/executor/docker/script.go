package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// maxArgScript is the largest script passed with sh -c; Linux refuses an
// argument above 128 KiB, so longer ones are copied into the container.
const maxArgScript = 64 << 10

// scriptDir holds long scripts in the job's container.
const scriptDir = "/slipway-scripts"

// scriptCommand is the command that runs commands the way the shell
// executor does (each echoed as "$ cmd", stopping at the first failure).
func (j *job) scriptCommand(ctx context.Context, commands []string) ([]string, error) {
	script := shell.Script(commands, false)
	if len(script) <= maxArgScript {
		return []string{"sh", "-c", script}, nil
	}
	j.scripts++
	name := fmt.Sprintf("script%d.sh", j.scripts)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []tar.Header{
		{Name: "slipway-scripts/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "slipway-scripts/" + name, Mode: 0o644, Size: int64(len(script))},
	}
	for i := range hdrs {
		if err := tw.WriteHeader(&hdrs[i]); err != nil {
			return nil, fmt.Errorf("copy script: %w", err)
		}
	}
	if _, err := tw.Write([]byte(script)); err != nil {
		return nil, fmt.Errorf("copy script: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("copy script: %w", err)
	}
	bctx, cancel := background(ctx)
	defer cancel()
	if _, err := j.cli.CopyToContainer(bctx, j.main, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return nil, fmt.Errorf("copy script into the job's container: %w", err)
	}
	return []string{"sh", scriptDir + "/" + name}, nil
}
