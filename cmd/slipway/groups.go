package main

import "github.com/spf13/cobra"

// Command groups that several files add subcommands to.
var (
	imageCmd = &cobra.Command{
		Use:   "image",
		Short: "Build, tag, push, promote and list container images",
	}
	registryCmd = &cobra.Command{
		Use:   "registry",
		Short: "The embedded OCI registry: serve it, clean it up",
	}
	lintCmd = &cobra.Command{
		Use:   "lint [FILE]",
		Short: "Check a .gitlab-ci.yml (default) or, with a subcommand, other files",
	}
)

func init() {
	rootCmd.AddCommand(imageCmd, registryCmd, lintCmd)
}
