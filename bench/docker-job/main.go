// Command docker-job measures the overhead of a job run by the Docker
// executor (`echo hi` in the busybox test image) against a bare
// `docker run --rm` of the same command, interleaving the two so that both
// see the same machine load. Run it with bench/docker-job/run.sh.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/docker"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func main() {
	n := flag.Int("n", 30, "measured runs of each")
	warmup := flag.Int("warmup", 3, "unmeasured runs of each first")
	flag.Parse()
	if err := run(*n, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "docker-job:", err)
		os.Exit(1)
	}
}

func run(n, warmup int) error {
	ctx := context.Background()
	host := testenv.DockerHost()
	cli, err := client.New(client.FromEnv, client.WithHost(host))
	if err != nil {
		return err
	}
	img, err := testenv.EnsureBusybox(ctx, cli)
	if err != nil {
		return err
	}
	e, err := docker.New(ctx, docker.Options{Client: cli})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "docker-job-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bare := func(i int) error {
		cmd := exec.Command("docker", "run", "--rm", img, "echo", "hi")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "hi" {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		return nil
	}
	job := func(i int) error {
		var out bytes.Buffer
		res, err := e.Run(ctx, &executor.Spec{
			JobName: "bench", ID: fmt.Sprintf("bench%d", i), Dir: dir,
			Script: []string{"echo hi"}, Image: &ci.Image{Name: img}, Output: &out,
		})
		if err != nil || res.ExitCode != 0 || !strings.Contains(out.String(), "\nhi\n") {
			return fmt.Errorf("job: %+v %v: %s", res, err, out.String())
		}
		return nil
	}

	// The same as docker run --rm through the API, without the CLI's
	// process start: the floor for any container-per-job executor.
	api := func(i int) error {
		created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: img, Cmd: []string{"echo", "hi"}, AttachStdout: true, AttachStderr: true},
			HostConfig: &container.HostConfig{AutoRemove: true},
		})
		if err != nil {
			return err
		}
		att, err := cli.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			return err
		}
		defer att.Close()
		wait := cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
			return err
		}
		var out bytes.Buffer
		if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
			return err
		}
		select {
		case <-wait.Result:
		case err := <-wait.Error:
			return err
		}
		if strings.TrimSpace(out.String()) != "hi" {
			return fmt.Errorf("api run: %q", out.String())
		}
		return nil
	}

	var bareTimes, apiTimes, jobTimes []time.Duration
	for i := 0; i < warmup+n; i++ {
		for _, m := range []struct {
			f     func(int) error
			times *[]time.Duration
		}{{bare, &bareTimes}, {api, &apiTimes}, {job, &jobTimes}} {
			start := time.Now()
			if err := m.f(i); err != nil {
				return err
			}
			if i >= warmup {
				*m.times = append(*m.times, time.Since(start))
			}
		}
	}
	b, j := median(bareTimes), median(jobTimes)
	fmt.Printf("engine %s, %d runs each (after %d warm-up runs)\n", host, n, warmup)
	fmt.Printf("docker run --rm busybox echo hi   median %6.1f ms   min %6.1f ms\n", ms(b), ms(slices.Min(bareTimes)))
	fmt.Printf("same through the API (no CLI)     median %6.1f ms   min %6.1f ms\n", ms(median(apiTimes)), ms(slices.Min(apiTimes)))
	fmt.Printf("docker executor job: echo hi      median %6.1f ms   min %6.1f ms\n", ms(j), ms(slices.Min(jobTimes)))
	fmt.Printf("ratio (median job / median docker run): %.2fx (target <= 1.20x)\n", float64(j)/float64(b))
	fmt.Printf("ratio (median job / median API run):    %.2fx\n", float64(j)/float64(median(apiTimes)))
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
