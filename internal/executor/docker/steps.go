package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/executor/shell"
)

// The job's container runs the script as its command, through the image's
// entrypoint (as GitLab does, so what the entrypoint sets up applies). For
// after_script the executor copies after.sh into the stopped container and
// starts it again: the command runs that file instead, in the same
// container, with whatever the script left in it.
const (
	scriptDir = "/slipway-scripts"
	// launch is the command of the job's container: it runs after.sh when
	// the executor copied one in, else script.sh (a long script), else the
	// script given as $1, with bash when the image has it and sh otherwise,
	// as GitLab Runner chooses.
	launch = `sh_=sh
for b in /usr/local/bin/bash /usr/bin/bash /bin/bash; do if [ -x "$b" ]; then sh_=$b; break; fi; done
if [ -f ` + scriptDir + `/after.sh ]; then exec "$sh_" ` + scriptDir + `/after.sh; fi
if [ -f ` + scriptDir + `/script.sh ]; then exec "$sh_" ` + scriptDir + `/script.sh; fi
exec "$sh_" -c "$1"
`
	// maxArgScript is the largest script passed in the command; Linux
	// refuses an argument above 128 KiB, so longer ones are copied in.
	maxArgScript = 64 << 10
	// killDrain bounds the wait for the output of a killed container.
	killDrain = 10 * time.Second
)

// mainCommand is the command of the job's container.
func (j *job) mainCommand(ctx context.Context) ([]string, error) {
	script := shell.AnyShellScript(j.spec.Script)
	if len(script) <= maxArgScript {
		return []string{"sh", "-c", launch, "slipway-job", script}, nil
	}
	// Copied once the container exists (createMain), before its start.
	j.longScript = script
	return []string{"sh", "-c", launch, "slipway-job"}, nil
}

// copyScript writes name into scriptDir in the job's container.
func (j *job) copyScript(ctx context.Context, name, script string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []tar.Header{
		{Name: scriptDir[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: scriptDir[1:] + "/" + name, Mode: 0o644, Size: int64(len(script))},
	}
	for i := range hdrs {
		if err := tw.WriteHeader(&hdrs[i]); err != nil {
			return err
		}
	}
	if _, err := tw.Write([]byte(script)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := j.cli.CopyToContainer(ctx, j.main, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return fmt.Errorf("copy %s into the job's container: %w", name, err)
	}
	return nil
}

// runStep starts the job's container, copies its output to the job log
// until it stops, and returns its exit code. When ctx ends first it kills
// the container and returns -1 and ctx.Err().
func (j *job) runStep(ctx context.Context) (int, error) {
	bctx, cancel := background(ctx)
	defer cancel()
	att, err := j.cli.ContainerAttach(bctx, j.main, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return -1, fmt.Errorf("attach to the job's container: %w", err)
	}
	defer att.Close()
	// Asked before the start, so that no exit is missed.
	wait := j.cli.ContainerWait(bctx, j.main, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := j.cli.ContainerStart(bctx, j.main, client.ContainerStartOptions{}); err != nil {
		return -1, fmt.Errorf("start the job's container: %w", err)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(j.out, j.out, att.Reader)
		copied <- err
	}()

	select {
	case err = <-copied:
	case <-ctx.Done():
		// Everything the script started dies with the container.
		if _, err := j.cli.ContainerKill(bctx, j.main, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			fmt.Fprintf(j.out, "WARNING: kill the job's container: %v\n", err)
		}
		select {
		case <-copied:
		case <-time.After(killDrain):
			att.Close()
			<-copied
		}
		select {
		case <-wait.Result:
		case <-wait.Error:
		case <-time.After(killDrain):
		}
		return -1, ctx.Err()
	}
	if err != nil {
		return -1, fmt.Errorf("read the job's output: %w", err)
	}
	// The stream ends when the container stops.
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return -1, errors.New("wait for the job's container: " + res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		return -1, fmt.Errorf("wait for the job's container: %w", err)
	}
}

// jobStatus is CI_JOB_STATUS as GitLab sets it for after_script.
func jobStatus(ctx context.Context, code int, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	case err == nil && code == 0:
		return "success"
	}
	return "failed"
}

// afterScript runs spec.AfterScript in the job's container (stopped by
// now) with its own timeout, also after ctx ended (GitLab runs it for
// canceled and timed-out jobs); its result only goes to the log.
func (j *job) afterScript(ctx context.Context, status string) {
	timeout := j.spec.AfterScriptTimeout
	if timeout <= 0 {
		timeout = DefaultAfterScriptTimeout
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	script := "export CI_JOB_STATUS=" + shell.Quote(status) + "\n" + shell.AnyShellScript(j.spec.AfterScript)
	if err := j.copyScript(actx, "after.sh", script); err != nil {
		fmt.Fprintf(j.out, "WARNING: after_script not run: %v\n", err)
		return
	}
	fmt.Fprintln(j.out, "Running after_script")
	code, err := j.runStep(actx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(j.out, "WARNING: after_script timed out after %s\n", timeout)
	case err != nil:
		fmt.Fprintf(j.out, "WARNING: after_script failed: %v\n", err)
	case code != 0:
		fmt.Fprintf(j.out, "WARNING: after_script failed with exit code %d\n", code)
	}
}
