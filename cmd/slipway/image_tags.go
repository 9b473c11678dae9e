package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/slipway-cd/slipway/internal/registry/images"
	"github.com/spf13/cobra"
)

func init() {
	var (
		insecure, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "tags REPO",
		Short: "List a repository's tags with their digests and push times",
		Long: `List the tags of REPO (host/team/app) with their digests, newest first.
Slipway's registry tells push times; other registries show "-".`,
		Args: needArgs("REPO"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := images.Tags(cmd.Context(), args[0], images.Options{Insecure: insecure})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(tags)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TAG\tDIGEST\tPUSHED")
			for _, t := range tags {
				pushed := "-"
				if !t.Pushed.IsZero() {
					pushed = t.Pushed.Local().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Tag, t.Digest, pushed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow plain HTTP to registries other than loopback")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	imageCmd.AddCommand(cmd)
}
