package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
	"github.com/spf13/cobra"
)

func init() {
	var (
		configPath    string
		dryRun, watch bool
	)
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Scan registries, select images by policy and write them into git",
		Long: `Scan the registries of the imagePolicies of the config file, select the
latest tag of each, rewrite the values marked # {"$imagepolicy": "NAME"} in
the repositories of its imageUpdates, then commit and push. A run that finds
every value up to date commits nothing. --dry-run prints the changes as a
diff and writes nothing; --watch runs each update again at its interval
until interrupted. See docs/image-automation.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := imageupdate.LoadConfig(configPath)
			if err != nil {
				return err
			}
			if len(cfg.Updates) == 0 {
				return fmt.Errorf("%s: no imageUpdates: nothing to update", configPath)
			}
			auto := &imageupdate.Automation{Config: cfg, DryRun: dryRun, Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
				Ran: func(u *imageupdate.Update, res imageupdate.Outcome, err error) {
					if err == nil {
						printImageUpdate(cmd.OutOrStdout(), u, res, dryRun)
					}
				}}
			if !watch {
				return auto.RunAll(cmd.Context())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			auto.Run(ctx)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "slipway-gitops.yaml", "the GitOps config file")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes as a diff; commit and push nothing")
	cmd.Flags().BoolVar(&watch, "watch", false, "run each update again at its interval until interrupted")
	gitopsCmd.AddCommand(cmd)
}

// printImageUpdate says what one run of an update did.
func printImageUpdate(out io.Writer, u *imageupdate.Update, res imageupdate.Outcome, dryRun bool) {
	n, s := len(res.Changes()), "s"
	if n == 1 {
		s = ""
	}
	switch {
	case n == 0:
		fmt.Fprintf(out, "update %s: up to date\n", u.Name)
	case dryRun:
		fmt.Fprintf(out, "update %s: %d change%s to %s (dry run, nothing written)\n%s", u.Name, n, s, u.PushBranch, imageupdate.Diff(res.Edits))
	default:
		fmt.Fprintf(out, "update %s: pushed %.12s to %s (%d change%s)\n", u.Name, res.Commit, u.PushBranch, n, s)
	}
}
