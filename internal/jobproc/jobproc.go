// Package jobproc finds the processes a shell job started wherever they
// went. Each carries the job's marker in its environment (as Jenkins' build
// cookie): a process that left the job's process group (setsid, a daemon's
// double fork) keeps it, and so does one whose Slipway was killed.
package jobproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/slipway-cd/slipway/internal/owner"
)

// EnvName is the variable that carries the marker.
const EnvName = "SLIPWAY_JOB_PROCESS"

// Marker is a new value of EnvName for job id started by this process: the
// PID namespace (owners' PIDs mean nothing in another one), the owner, the
// job, and a number of its own (engines running side by side in one
// process, as a release train's, may give their jobs the same id).
func Marker(jobID string) string {
	return pidNamespace() + " " + owner.This() + " " + jobID + "#" + strconv.FormatUint(seq.Add(1), 10)
}

var seq atomic.Uint64

// Kill sends SIGKILL to every process that carries marker, until none is
// left (a process may fork while it is being killed), and returns how many
// it killed. Processes get increasing PIDs, so only those from first (the
// job's first process) on are read, unless the PIDs wrapped around since:
// reading every process's environment costs too much at every job's end.
func Kill(marker string, first int) int {
	if last := lastPID(); last >= 0 && last < first {
		first = 0
	}
	return kill(first, func(m string) bool { return m == marker })
}

// KillOrphans kills the job processes of this PID namespace whose Slipway
// is gone (killed, crashed) and returns how many it killed: a restarted
// server or `slipway run` does this before it retries their jobs.
func KillOrphans() int {
	ns := pidNamespace()
	return kill(0, func(m string) bool {
		f := strings.SplitN(m, " ", 3)
		return len(f) == 3 && f[0] == ns && owner.Gone(f[1])
	})
}

// rounds bounds kill's passes: a fork bomb must not hold Slipway for ever.
const rounds = 20

func kill(first int, doomed func(marker string) bool) int {
	killed := map[int]bool{} // a killed process is read again until it is gone
	self := os.Getpid()
	for range rounds {
		n := 0
		for _, pid := range pids() {
			if pid == self || pid < first || killed[pid] {
				continue
			}
			if m, ok := markerOf(pid); ok && doomed(m) && syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed[pid] = true
				n++
			}
		}
		if n == 0 {
			break
		}
	}
	return len(killed)
}

func pids() []int {
	entries, _ := os.ReadDir("/proc")
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// markerOf reads the marker from a process's environment; false when it
// has none, is gone, or cannot be read. A zombie (already killed, not yet
// reaped) has an empty environment and is not counted again.
func markerOf(pid int) (string, bool) {
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return "", false
	}
	prefix := []byte(EnvName + "=")
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", false
}

// lastPID is the PID the kernel gave last in this namespace, -1 if unknown.
func lastPID() int {
	b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

func pidNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "pid:[?]"
	}
	return ns
}
