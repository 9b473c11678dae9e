// Command slipway is a self-hosted continuous-delivery system: GitLab-CI
// compatible pipelines, image builds, a registry, review environments and
// GitOps deployments in one binary.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the top of the command tree. Each subcommand lives in its own
// file and attaches itself in an init function, so that packages of the CLI
// can grow side by side without touching this file.
var rootCmd = &cobra.Command{
	Use:           "slipway",
	Short:         "Slipway: from a commit to a running, observable deployment",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit code through cobra without printing
// anything more than what the command already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	if err := rootCmd.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "slipway:", err)
		os.Exit(1)
	}
}
