package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/gitops"
)

func init() {
	for _, verb := range []string{"suspend", "resume"} {
		short := "Stop the server from applying or pruning the deployments until resume (as flux suspend)"
		if verb == "resume" {
			short = "Let the server reconcile suspended deployments again, each at once"
		}
		var asJSON bool
		cmd := &cobra.Command{
			Use:   verb + " DEPLOYMENT...",
			Short: short,
			Long: short + ".\nThe server (--server, $SLIPWAY_SERVER) keeps the suspension in its GitOps state folder, so a restart\n" +
				"keeps it; a deployment whose config says suspend: true is resumed only by editing the config.",
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c := newAPIClient(cmd)
				var all []gitops.DeploymentStatus
				for _, d := range args {
					var st gitops.DeploymentStatus
					if err := c.do("POST", "/api/gitops/"+url.PathEscape(d)+"/"+verb, nil, &st); err != nil {
						return err
					}
					all = append(all, st)
					if !asJSON {
						fmt.Fprintf(cmd.OutOrStdout(), "deployment %s: %s\n", d, suspendedLine(verb, st))
					}
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), all)
				}
				return nil
			},
		}
		cmd.Flags().String("server", "", "the server's URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")
		cmd.Flags().BoolVar(&asJSON, "json", false, "print each deployment's status as JSON")
		gitopsCmd.AddCommand(cmd)
	}
}

func suspendedLine(verb string, st gitops.DeploymentStatus) string {
	if verb == "suspend" {
		return "suspended: neither applied nor pruned until slipway gitops resume " + st.Name
	}
	return "resumed: a pass is requested (GET /api/gitops or the UI's /gitops shows its result)"
}
