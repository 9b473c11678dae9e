package helmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
	"helm.sh/helm/v4/pkg/kube"
)

// helmArgsEnv carries the arguments of a helm command to the test binary
// that runs it (see RunHelm).
const helmArgsEnv = "SLIPWAY_TEST_HELM_ARGS"

// RunHelm makes the test binary Helm's own CLI when Helm started it: it
// runs Helm's root command (what the helm binary's main does) with the
// arguments it was given and exits. Call it first in the test that
// Helm's helper argument names; in a normal run it returns at once.
func RunHelm() {
	raw := os.Getenv(helmArgsEnv)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	kube.ManagedFieldsManager = "helm" // as helm's main does
	cmd, err := helmcmd.NewRootCmd(os.Stdout, args, helmcmd.SetupLogging)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd.SetArgs(args) // cobra reads os.Args otherwise, which are the test binary's
	if err := cmd.Execute(); err != nil {
		if cerr, ok := errors.AsType[helmcmd.CommandError](err); ok {
			os.Exit(cerr.ExitCode)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// Helm runs `helm args...` against the cluster of kubeconfig, in a child
// process of the test binary running the test named helper (which calls
// RunHelm), with a Helm home of its own. It returns the command's output
// and fails t when it fails.
func Helm(t *testing.T, helper, kubeconfig string, args ...string) string {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), helmArgsEnv+"="+string(raw), "KUBECONFIG="+kubeconfig,
		"HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
