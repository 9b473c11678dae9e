package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/gitops"
)

func init() {
	var f gitopsFlags
	var asJSON bool
	diff := &cobra.Command{
		Use:   "diff [DEPLOYMENT...]",
		Short: "Print what a pass would change, changing nothing",
		Long: "Fetch each source and compare each deployment (or those named) with what runs, as a pass would,\n" +
			"without deploying, writing or pruning anything: on a Docker host, the apps a pass would create,\n" +
			"update or remove and why; on Kubernetes, a server-side dry-run apply of each object (created,\n" +
			"configured, unchanged) and the objects it would prune. Images are pulled to learn their digests.\n" +
			"Uses the state folder of reconcile or run: stop a controller running on it first.\n" +
			"Exits non-zero when a deployment could not be compared.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withGitops(cmd, f, func(ctx context.Context, c *gitops.Controller) error {
				all, err := c.Diff(ctx, args...)
				if err != nil {
					return err
				}
				if asJSON {
					err = printJSON(cmd.OutOrStdout(), all)
				} else {
					printDiff(cmd.OutOrStdout(), all)
				}
				for _, d := range all {
					if d.Error != "" {
						err = errors.Join(err, fmt.Errorf("deployment %s: %s", d.Name, d.Error))
					}
				}
				return err
			})
		},
	}
	fl := diff.Flags()
	fl.StringVar(&f.config, "config", "slipway-gitops.yaml", "the GitOps config file")
	fl.StringVar(&f.state, "state", "slipway-gitops", "the state folder of reconcile or run")
	fl.BoolVar(&asJSON, "json", false, "print the changes of each deployment as JSON")
	gitopsCmd.AddCommand(diff)
}

// printDiff prints one line per app or object.
func printDiff(w io.Writer, all []gitops.DeploymentDiff) {
	for _, d := range all {
		fmt.Fprintf(w, "deployment %s (%s) at %.12s:", d.Name, d.Target, d.Revision)
		switch {
		case d.Error != "":
			fmt.Fprintf(w, " not compared: %s\n", d.Error)
			continue
		case !d.Changed():
			fmt.Fprint(w, " no change")
		}
		fmt.Fprintln(w)
		for _, c := range d.Changes {
			name := c.Name
			if c.Kind == "app" {
				name = "app " + name
			}
			fmt.Fprintf(w, "  %s: %s", name, c.Action)
			if c.Why != "" {
				fmt.Fprintf(w, ": %s", c.Why)
			}
			fmt.Fprintln(w)
		}
	}
}
