package docker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/docker"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// helperEnv makes the test binary a Slipway that runs one long job (with a
// service, so there is a network too) and waits to be killed.
const helperEnv = "SLIPWAY_DOCKER_TEST_HELPER"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		if err := runHelperJob(v); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelperJob(arg string) error {
	id, img, _ := strings.Cut(arg, " ")
	cli, err := client.New(client.FromEnv, client.WithHost(testenv.DockerHost()))
	if err != nil {
		return err
	}
	ctx := context.Background()
	e, err := docker.New(ctx, docker.Options{Client: cli})
	if err != nil {
		return err
	}
	_, err = e.Run(ctx, &executor.Spec{
		JobName:  "killed",
		ID:       id,
		Script:   []string{"echo started", "sleep 300"},
		Image:    &ci.Image{Name: img},
		Services: []ci.Service{{Name: img, Alias: "idle", Command: []string{"sleep", "300"}}},
		Output:   os.Stdout,
	})
	return err
}

// waitFor reads r until a line holds want.
func waitFor(t *testing.T, r io.Reader, want string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				found <- true
				_, _ = io.Copy(io.Discard, r)
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("output ended before %q", want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no %q within a minute", want)
	}
}

func TestNewRemovesWhatAKilledSlipwayLeftButNotLiveJobs(t *testing.T) {
	t.Parallel()
	cli := testenv.Docker(t)
	img := testenv.BusyboxImage(t, cli)

	// A Slipway killed mid-job leaves its containers and network.
	killedID := fmt.Sprintf("killed%d", time.Now().UnixNano())
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+killedID+" "+img, "DOCKER_HOST="+testenv.DockerHost())
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "started")
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	left := created(t, cli, killedID)
	if len(left) != 3 {
		t.Fatalf("the killed run left %v, want its job and service containers and its network", left)
	}

	// A job of this live process runs meanwhile.
	e, _, _ := newExecutor(t)
	live := spec(t, img, "echo started", "sleep 300")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, live)
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("live job: %v", err)
		}
	}()
	for !strings.Contains(logOf(live), "started") {
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := docker.New(context.Background(), docker.Options{Client: cli}); err != nil {
		t.Fatal(err)
	}
	// Another test binary's New may be removing them at the same moment.
	deadline := time.Now().Add(10 * time.Second)
	for len(created(t, cli, killedID)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := created(t, cli, killedID); len(left) > 0 {
		t.Errorf("New left the killed run's %v", left)
	}
	if running := created(t, cli, live.ID); len(running) != 1 {
		t.Errorf("live job's containers after New: %v, want its container untouched", running)
	}
}
