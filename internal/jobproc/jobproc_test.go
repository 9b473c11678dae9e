package jobproc

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// sleeper starts `sleep 300` in a session of its own carrying marker, as a
// job's daemon would run, and ends it with the test.
func sleeper(t *testing.T, marker string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("setsid", "sleep", "300")
	cmd.Env = append(os.Environ(), EnvName+"="+marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	return cmd
}

// exited waits for cmd to end; false when it still runs after a while.
func exited(cmd *exec.Cmd) bool {
	done := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func TestKillEndsOnlyTheJobsProcesses(t *testing.T) {
	first := lastPID()
	marker := Marker("job-1")
	job := sleeper(t, marker)
	other := sleeper(t, Marker("job-1")) // the same id in another engine
	if n := Kill(marker, first); n != 1 {
		t.Errorf("killed %d processes, want 1", n)
	}
	if !exited(job) {
		t.Error("the job's process runs on")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("another job's process was killed: %v", err)
	}
}

// A killed Slipway's job processes are orphans: only those of an owner
// that is provably gone, in this PID namespace, are killed.
func TestKillOrphansSparesLiveOwnersAndOtherNamespaces(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	deadOwner := host + "/" + strconv.Itoa(gone.Process.Pid) + "/1"
	orphan := sleeper(t, pidNamespace()+" "+deadOwner+" job-9")
	live := sleeper(t, Marker("job-10"))
	foreign := sleeper(t, "pid:[1] "+deadOwner+" job-11")
	// Other orphans of the machine may go too: count at least ours.
	if n := KillOrphans(); n < 1 {
		t.Errorf("killed %d processes, want the orphan", n)
	}
	if !exited(orphan) {
		t.Error("the orphaned job's process runs on")
	}
	for name, cmd := range map[string]*exec.Cmd{"a live Slipway's job": live, "another PID namespace's job": foreign} {
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("%s was killed: %v", name, err)
		}
	}
}

// BenchmarkKillNothing is what a shell job's end pays when it left nothing
// running.
func BenchmarkKillNothing(b *testing.B) {
	m := Marker("bench-job")
	first := lastPID()
	for b.Loop() {
		if n := Kill(m, first); n != 0 {
			b.Fatal(n)
		}
	}
}
