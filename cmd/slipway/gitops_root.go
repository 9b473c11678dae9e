package main

import "github.com/spf13/cobra"

// gitopsCmd groups the GitOps commands: reconciling a git repository of
// desired state, and updating its image references from registry scans.
var gitopsCmd = &cobra.Command{
	Use:   "gitops",
	Short: "Reconcile desired state from git and update image references by policy",
}

func init() { rootCmd.AddCommand(gitopsCmd) }
