package docker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/docker"
	"github.com/slipway-cd/slipway/internal/testenv"
)

func newExecutor(t *testing.T) (*docker.Executor, *client.Client, string) {
	t.Helper()
	cli := testenv.Docker(t)
	img := testenv.BusyboxImage(t, cli)
	e, err := docker.New(context.Background(), docker.Options{Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	return e, cli, img
}

// spec is a job in img with a fresh working copy; the ID is unique per
// test so that tests running at once never see each other's containers.
func spec(t *testing.T, img string, script ...string) *executor.Spec {
	return &executor.Spec{
		JobName: t.Name(),
		ID:      fmt.Sprintf("t%d", time.Now().UnixNano()),
		Dir:     t.TempDir(),
		Script:  script,
		Image:   &ci.Image{Name: img},
		Output:  &testenv.Buffer{},
	}
}

func logOf(s *executor.Spec) string { return s.Output.(*testenv.Buffer).String() }

// created lists what the engine still holds for job id.
func created(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", docker.LabelJob+"="+id)
	var left []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	return left
}

func TestJobRunsInImageOnItsWorkingCopy(t *testing.T) {
	e, cli, img := newExecutor(t)
	s := spec(t, img, "cat input.txt", "pwd", "echo \"$GREETING\" > output.txt", "uname -s")
	s.Env = []string{"GREETING=hello from the job"}
	if err := os.WriteFile(filepath.Join(s.Dir, "input.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
	log := logOf(s)
	for _, want := range []string{"$ cat input.txt\nfrom the host\n", "$ pwd\n" + e.ProjectDir(s.Dir) + "\n", "$ uname -s\nLinux\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	got, err := os.ReadFile(filepath.Join(s.Dir, "output.txt"))
	if err != nil || string(got) != "hello from the job\n" {
		t.Errorf("output.txt on the host = %q, %v; want the job's output", got, err)
	}
	if left := created(t, cli, s.ID); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestScriptStopsAtFirstFailingCommand(t *testing.T) {
	e, _, img := newExecutor(t)
	s := spec(t, img, "echo one", "exit 3", "echo never")
	res, err := e.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.SystemFailure {
		t.Errorf("result %+v, want exit code 3 and no system failure", res)
	}
	if log := logOf(s); !strings.Contains(log, "$ exit 3\n") || strings.Contains(log, "never") {
		t.Errorf("log:\n%s", log)
	}
}

func TestAfterScriptRunsInTheSameContainerAfterAFailure(t *testing.T) {
	e, _, img := newExecutor(t)
	// /tmp is the container's own, not the mounted working copy.
	s := spec(t, img, "echo left by the script > /tmp/state", "exit 7")
	s.AfterScript = []string{"cat /tmp/state", "echo status=$CI_JOB_STATUS", "exit 1"}
	res, err := e.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want the script's 7 (after_script never changes it)", res.ExitCode)
	}
	log := logOf(s)
	for _, want := range []string{"Running after_script\n$ cat /tmp/state\nleft by the script\n", "status=failed\n", "WARNING: after_script failed with exit code 1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// httpdImage is busybox serving /www on the port it exposes, so that the
// executor has a port to wait for.
func httpdImage(t *testing.T, cli *client.Client, busybox string) string {
	return testenv.BuildImage(t, cli, "slipway-test/httpd:1",
		"FROM "+busybox+"\nEXPOSE 80\nCMD [\"sh\", \"-c\", \"mkdir -p /www && echo \\\"$MESSAGE\\\" > /www/index.html && exec httpd -f -p 80 -h /www\"]\n")
}

func TestJobTalksToServiceByAliasAndImageName(t *testing.T) {
	e, cli, img := newExecutor(t)
	httpd := httpdImage(t, cli, img)
	s := spec(t, img, "wget -qO- http://web/", "wget -qO- http://slipway-test__httpd/", "wget -qO- http://slipway-test-httpd/")
	s.Env = []string{"WHO=service"}
	s.Services = []ci.Service{{
		Name:      httpd,
		Alias:     "web",
		Variables: ci.Variables{{Name: "MESSAGE", Value: "hello from the $WHO"}},
	}}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
	if n := strings.Count(logOf(s), "hello from the service\n"); n != 3 {
		t.Errorf("service answered %d times of 3:\n%s", n, logOf(s))
	}
	if left := created(t, cli, s.ID); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestServiceReachesTheJobAsBuild(t *testing.T) {
	e, _, img := newExecutor(t)
	// The service fetches a page from the job's container, then serves it.
	// It waits a moment first: a name asked for before the job's container
	// exists goes to the host's resolvers, which may take seconds to fail.
	s := spec(t, img,
		"mkdir /www && echo pong from the job > /www/index.html && httpd -p 8000 -h /www",
		"for i in $(seq 100); do wget -qO- http://relay/ && exit 0; sleep 0.1; done; exit 1")
	s.Services = []ci.Service{{
		Name:    img,
		Alias:   "relay",
		Command: []string{"sh", "-c", "mkdir /www; sleep 0.5; until wget -qO /www/index.html http://build:8000/; do sleep 0.1; done; exec httpd -f -p 80 -h /www"},
	}}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "\npong from the job\n") {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
}

func TestServiceCommandAndEntrypointOverrideTheImage(t *testing.T) {
	e, _, img := newExecutor(t)
	s := spec(t, img, "wget -qO- http://api:8080/")
	s.Services = []ci.Service{{
		Name:       img,
		Alias:      "api",
		Entrypoint: []string{"sh", "-c"},
		Command:    []string{"mkdir /www && echo from the command > /www/index.html && exec httpd -f -p 8080 -h /www"},
	}}
	// Without an exposed port there is nothing to wait for: retry briefly.
	s.Script = []string{"for i in $(seq 50); do wget -qO- http://api:8080/ && exit 0; sleep 0.1; done; exit 1"}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "from the command\n") {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
}

func TestImageEntrypointCanBeOverridden(t *testing.T) {
	e, cli, img := newExecutor(t)
	broken := testenv.BuildImage(t, cli, "slipway-test/entrypoint-false:1", "FROM "+img+"\nENTRYPOINT [\"false\"]\n")
	s := spec(t, broken, "echo ran")
	s.Image.Entrypoint = []string{""}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "$ echo ran\nran\n") {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
}

func TestScriptRunsThroughTheImageEntrypoint(t *testing.T) {
	e, cli, img := newExecutor(t)
	// An entrypoint that prepares the environment, then runs its command.
	prepared := testenv.BuildImage(t, cli, "slipway-test/entrypoint-env:1",
		"FROM "+img+"\nENTRYPOINT [\"sh\", \"-c\", \"export FROM_ENTRYPOINT=yes; exec \\\"$@\\\"\", \"entrypoint\"]\n")
	s := spec(t, prepared, "echo from entrypoint: $FROM_ENTRYPOINT")
	s.AfterScript = []string{"echo after: $FROM_ENTRYPOINT"}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}
	for _, want := range []string{"from entrypoint: yes\n", "after: yes\n"} {
		if !strings.Contains(logOf(s), want) {
			t.Errorf("log lacks %q:\n%s", want, logOf(s))
		}
	}
}

func TestTimedOutJobLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	e, cli, img := newExecutor(t)
	// The service's image declares a volume: the engine gives it an
	// anonymous one, which must go too.
	withVolume := testenv.BuildImage(t, cli, "slipway-test/volume:1", "FROM "+img+"\nVOLUME /data\n")
	s := spec(t, img, "echo started", "sleep 300")
	s.Services = []ci.Service{{Name: withVolume, Alias: "idle", Command: []string{"sleep", "300"}}}
	// Long enough for the service and the script to start on a loaded
	// machine: the volume is looked at once the script runs.
	const timeout = 15 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	volumes := make(chan []string, 1)
	ran := make(chan struct{})
	go func() {
		for !strings.Contains(logOf(s), "started") {
			select {
			case <-ran:
				volumes <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		volumes <- jobVolumes(t, cli, s.ID)
	}()
	start := time.Now()
	res, err := e.Run(ctx, s)
	close(ran)
	if !errors.Is(err, context.DeadlineExceeded) || res.ExitCode != -1 {
		t.Fatalf("Run = %+v, %v; want exit code -1 and DeadlineExceeded; log:\n%s", res, err, logOf(s))
	}
	if took := time.Since(start); took > timeout+20*time.Second {
		t.Errorf("Run returned %s after the start, long after the %s timeout", took, timeout)
	}
	if left := created(t, cli, s.ID); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	vols := <-volumes
	if vols == nil {
		t.Fatalf("the job's script never started within %s; log:\n%s", timeout, logOf(s))
	}
	if len(vols) != 1 {
		t.Fatalf("the service had volumes %v, want one", vols)
	}
	if _, err := cli.VolumeInspect(context.Background(), vols[0], client.VolumeInspectOptions{}); err == nil {
		t.Errorf("volume %s of the service left behind", vols[0])
	}
}

// jobVolumes lists the volumes mounted in job id's containers.
func jobVolumes(t *testing.T, cli *client.Client, id string) []string {
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{Filters: client.Filters{}.Add("label", docker.LabelJob+"="+id)})
	if err != nil {
		t.Error(err)
		return nil
	}
	var vols []string
	for _, c := range cs.Items {
		for _, m := range c.Mounts {
			if m.Type == "volume" {
				vols = append(vols, m.Name)
			}
		}
	}
	return vols
}

func TestCanceledJobRunsAfterScriptAndLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	e, cli, img := newExecutor(t)
	s := spec(t, img, "echo started", "sleep 300")
	s.AfterScript = []string{"echo after: $CI_JOB_STATUS"}
	s.Services = []ci.Service{{Name: img, Alias: "idle", Command: []string{"sleep", "300"}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !strings.Contains(logOf(s), "started") {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	res, err := e.Run(ctx, s)
	if !errors.Is(err, context.Canceled) || res.ExitCode != -1 {
		t.Fatalf("Run = %+v, %v; want exit code -1 and Canceled; log:\n%s", res, err, logOf(s))
	}
	if !strings.Contains(logOf(s), "after: canceled\n") {
		t.Errorf("after_script did not run with CI_JOB_STATUS=canceled:\n%s", logOf(s))
	}
	if left := created(t, cli, s.ID); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestLongScriptRuns(t *testing.T) {
	e, _, img := newExecutor(t)
	long := "echo " + strings.Repeat("x", 100<<10) + " >/dev/null"
	s := spec(t, img, long, "echo done")
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "\ndone\n") {
		t.Fatalf("Run = %+v, %v; log tail: %q", res, err, tail(logOf(s)))
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}

func TestMissingImageWithPullNeverSaysSo(t *testing.T) {
	e, _, _ := newExecutor(t)
	s := spec(t, "slipway-test/does-not-exist:1", "true")
	s.Image.PullPolicy = []string{docker.PullNever}
	res, err := e.Run(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "slipway-test/does-not-exist:1") || !strings.Contains(err.Error(), "not present") {
		t.Fatalf("err = %v, want one naming the image and saying it is not present", err)
	}
	if res.ExitCode != -1 || !res.SystemFailure {
		t.Errorf("result %+v, want exit code -1, system failure", res)
	}
}

func TestBadPullPolicyIsAConfigurationError(t *testing.T) {
	e, _, img := newExecutor(t)
	s := spec(t, img, "true")
	s.Image.PullPolicy = []string{"sometimes"}
	res, err := e.Run(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), `image:pull_policy: unknown pull policy "sometimes"`) {
		t.Fatalf("err = %v", err)
	}
	if res.SystemFailure {
		t.Error("a configuration mistake is reported as a runner system failure")
	}
}

func TestJobWithoutImageUsesTheDefault(t *testing.T) {
	cli := testenv.Docker(t)
	img := testenv.BusyboxImage(t, cli)
	e, err := docker.New(context.Background(), docker.Options{Client: cli, DefaultImage: img})
	if err != nil {
		t.Fatal(err)
	}
	s := spec(t, img, "echo default image")
	s.Image = nil
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}

	noDefault, _, _ := newExecutor(t)
	s = spec(t, img, "true")
	s.Image = nil
	if _, err := noDefault.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Fatalf("err = %v, want one saying the job has no image", err)
	}
}

func TestExecutorVolumesAreMountedInJobs(t *testing.T) {
	cli := testenv.Docker(t)
	img := testenv.BusyboxImage(t, cli)
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "config"), []byte("shared setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := docker.New(context.Background(), docker.Options{Client: cli, Volumes: []string{shared + ":/shared:ro"}})
	if err != nil {
		t.Fatal(err)
	}
	s := spec(t, img, "cat /shared/config", "touch /shared/x")
	res, err := e.Run(context.Background(), s)
	// stdout and stderr reach the log as two streams: only their own order is kept.
	if err != nil || res.ExitCode == 0 || !strings.Contains(logOf(s), "shared setting\n") || !strings.Contains(logOf(s), "Read-only file system") {
		t.Fatalf("Run = %+v, %v; want the file read and the read-only mount refusing a write; log:\n%s", res, err, logOf(s))
	}
}

func TestDebugServicesPutsServiceLogsInTheJobLog(t *testing.T) {
	e, _, img := newExecutor(t)
	service := ci.Service{Name: img, Alias: "chatty", Command: []string{"sh", "-c", "echo service says hello; echo on stderr >&2; exec sleep 300"}}

	s := spec(t, img, "echo job ran")
	s.Services = []ci.Service{service}
	if _, err := e.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logOf(s), "service says hello") {
		t.Errorf("service logs without CI_DEBUG_SERVICES:\n%s", logOf(s))
	}

	s = spec(t, img, "echo job ran")
	s.Env = []string{"CI_DEBUG_SERVICES=true"}
	s.Services = []ci.Service{service}
	if _, err := e.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[service:chatty] service says hello\n", "[service:chatty] on stderr\n", "job ran\n"} {
		if !strings.Contains(logOf(s), want) {
			t.Errorf("log lacks %q:\n%s", want, logOf(s))
		}
	}
}

// An image with bash runs the job's scripts with bash and pipefail, as GitLab
// Runner does; one without it (busybox) runs them with sh.
func TestScriptsRunWithBashWhenTheImageHasIt(t *testing.T) {
	e, cli, busybox := newExecutor(t)
	files := map[string][]byte{"Dockerfile": []byte("FROM " + busybox + "\n" +
		"COPY bash /bin/bash\nCOPY libtinfo.so.6 libc.so.6 /lib/x86_64-linux-gnu/\nCOPY ld-linux-x86-64.so.2 /lib64/\n")}
	for name, path := range map[string]string{"bash": "/bin/bash", "libtinfo.so.6": "/lib/x86_64-linux-gnu/libtinfo.so.6",
		"libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6", "ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("the host's bash is needed to build an image with bash: %v", err)
		}
		files[name] = data
	}
	withBash := testenv.BuildContext(t, cli, "slipway-test-bash:latest", files)

	s := spec(t, withBash, `echo "shell=${BASH_VERSION:+bash}"`, "false | true", "echo never")
	s.AfterScript = []string{`echo "after=${BASH_VERSION:+bash}"`}
	res, err := e.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	log := logOf(s)
	if res.ExitCode != 1 || !strings.Contains(log, "shell=bash\n") || strings.Contains(log, "never") || !strings.Contains(log, "after=bash\n") {
		t.Errorf("with bash: result %+v, want exit 1 at the pipe (pipefail), bash for script and after_script; log:\n%s", res, log)
	}

	s = spec(t, busybox, `echo "shell=${BASH_VERSION:-sh}"`, "false | true", "echo reached")
	res, err = e.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if log := logOf(s); res.ExitCode != 0 || !strings.Contains(log, "shell=sh\n") || !strings.Contains(log, "reached") {
		t.Errorf("without bash: result %+v, want sh without pipefail; log:\n%s", res, log)
	}
}
