package main

import (
	"fmt"

	"github.com/slipway-cd/slipway/internal/registry/images"
	"github.com/spf13/cobra"
)

func init() {
	var insecure bool
	cmd := &cobra.Command{
		Use:   "promote SRC DST",
		Short: "Copy an image (every platform, by digest, no rebuild) to another repository or registry",
		Long: `Copy the image SRC (host/repo:tag or host/repo@sha256:...) to DST, byte for
byte: the digest at DST is the digest at SRC, so what was tested is what runs.
Credentials come from docker's config (docker login).`,
		Example: `  slipway image promote 127.0.0.1:5000/team/app:main-abc123 127.0.0.1:5000/team/app:production
  slipway image promote 127.0.0.1:5000/internal/app@sha256:4f1c... registry.example.com/public/app:1.4.0`,
		Args: needArgs("SRC", "DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := images.Promote(cmd.Context(), args[0], args[1], images.Options{Insecure: insecure})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s → %s (%s)\n", args[0], args[1], d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow plain HTTP to registries other than loopback")
	imageCmd.AddCommand(cmd)
}
