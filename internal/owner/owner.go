// Package owner names the running process in a way that outlives it: a
// label a later process can check to tell whether its creator is gone.
package owner

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// This identifies this process for as long as it lives: host name, pid
// and the pid's start time (so a reused pid is not taken for us).
var This = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s/%d/%s", host, pid, procStart(pid))
})

// procStart is the start time of process pid in clock ticks since boot
// (field 22 of /proc/pid/stat), or "" when the process does not exist.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// Gone reports whether the process named by an owner label (This) has
// provably ended: same host, and its pid is dead or now another process.
// Labels from other hosts (an engine shared over TCP) are never taken as
// gone, since nothing here can tell.
func Gone(label string) bool {
	parts := strings.Split(label, "/")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	if parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	return procStart(pid) != parts[2]
}
