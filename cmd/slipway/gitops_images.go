package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
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
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			out := cmd.OutOrStdout()
			if !watch {
				results, err := scanPolicies(cmd.Context(), cfg, log)
				if err != nil {
					return err
				}
				for _, u := range cfg.Updates {
					if err := updateImages(cmd.Context(), u, results, dryRun, out); err != nil {
						return err
					}
				}
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			watchImages(ctx, cfg, dryRun, out, log)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "slipway-gitops.yaml", "the GitOps config file")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes as a diff; commit and push nothing")
	cmd.Flags().BoolVar(&watch, "watch", false, "run each update again at its interval until interrupted")
	gitopsCmd.AddCommand(cmd)
}

// scanPolicies selects the image of every policy and logs the choices.
func scanPolicies(ctx context.Context, cfg *imageupdate.Config, log *slog.Logger) (map[string]imagepolicy.Result, error) {
	results, err := imagepolicy.ScanAll(ctx, cfg.Policies, nil)
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Policies {
		r := results[p.Name]
		log.Info("image policy selected", "policy", r.Policy, "image", r.Image, "tag", r.Tag, "digest", r.Digest)
	}
	return results, nil
}

// updateImages runs one update and says what it did on out.
func updateImages(ctx context.Context, u *imageupdate.Update, results map[string]imagepolicy.Result, dryRun bool, out io.Writer) error {
	res, err := u.Run(ctx, results, dryRun)
	if err != nil {
		return err
	}
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
	return nil
}

// watchImages runs every update when it is due, with a fresh scan, until
// ctx ends. A failed run is logged and tried again at the next interval:
// the registry or the git server may be back by then.
func watchImages(ctx context.Context, cfg *imageupdate.Config, dryRun bool, out io.Writer, log *slog.Logger) {
	next := make([]time.Time, len(cfg.Updates))
	for {
		wait := time.Duration(1<<63 - 1)
		for i, u := range cfg.Updates {
			if !time.Now().Before(next[i]) {
				results, err := scanPolicies(ctx, cfg, log)
				if err == nil {
					err = updateImages(ctx, u, results, dryRun, out)
				}
				if err != nil && ctx.Err() == nil {
					log.Error("image update failed", "update", u.Name, "err", err)
				}
				next[i] = time.Now().Add(u.Interval)
			}
			wait = min(wait, time.Until(next[i]))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
