package owner

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestOwnerGoneOnlyForDeadProcessesOfThisHost(t *testing.T) {
	if Gone(This()) {
		t.Error("this very process is taken for gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := host + "/" + strconv.Itoa(cmd.Process.Pid) + "/1"
	if !Gone(dead) {
		t.Errorf("%s (an exited process) not taken for gone", dead)
	}
	// Same pid, other start time: the pid was reused by another process.
	reused := host + "/" + strconv.Itoa(os.Getpid()) + "/1"
	if !Gone(reused) {
		t.Errorf("%s (a reused pid) not taken for gone", reused)
	}
	for _, unknown := range []string{"", "garbage", "other-host/1/1"} {
		if Gone(unknown) {
			t.Errorf("%q taken for gone: nothing here can tell", unknown)
		}
	}
}
