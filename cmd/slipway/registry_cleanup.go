package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
	"github.com/spf13/cobra"
)

func init() {
	var (
		data, policyFile string
		dryRun, showKept bool
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "cleanup --policy FILE",
		Short: "Delete tags by cleanup policy (GitLab semantics), then collect garbage",
		Long: `Apply a cleanup policy to the registry stored in --data: delete the tags the
rules select, then delete untagged manifests and blobs nothing references.
--dry-run lists what would go and why, and deletes nothing.

This command opens the storage directly. Garbage collection is safe against
concurrent pushes only within one process: while another process serves the
registry, use --dry-run here and let that server run the cleanup (slipway serve
schedules it), or stop the registry first. See docs/registry.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			policy, err := cleanup.LoadPolicy(policyFile)
			if err != nil {
				return err
			}
			reg, err := registry.New(cmd.Context(), registry.Config{DataDir: data})
			if err != nil {
				return err
			}
			defer reg.Close()
			rep, err := cleanup.Run(cmd.Context(), reg, policy, dryRun)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if rep.Decisions == nil {
					rep.Decisions = []cleanup.Decision{}
				}
				return printJSON(out, rep)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tIMAGE\tDIGEST\tPUSHED\tWHY")
			for _, d := range rep.Decisions {
				action := "keep"
				if d.Delete {
					action = "delete"
					if dryRun {
						action = "would delete"
					}
				} else if !showKept {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s:%s\t%s\t%s\t%s\n", action, d.Repository, d.Tag, short(d.Digest.String()),
					d.Pushed.Format(time.RFC3339), d.Reason)
			}
			tw.Flush()
			fmt.Fprintf(out, "%d of %d tags %s\n", len(rep.Deleted()), len(rep.Decisions), map[bool]string{true: "would be deleted (dry run)", false: "deleted"}[dryRun])
			if rep.GC != nil {
				fmt.Fprintf(out, "garbage collection: %d untagged manifests, %d blobs, %d bytes freed (pushes waited %s)\n",
					rep.GC.ManifestsRemoved, len(rep.GC.BlobsDeleted), rep.GC.BytesFreed, rep.GC.SweepDuration.Round(time.Millisecond))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", defaultRegistryData(), "folder the registry stores its content in")
	cmd.Flags().StringVar(&policyFile, "policy", "", "cleanup policy YAML file (see docs/registry.md)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted and why; delete nothing")
	cmd.Flags().BoolVar(&showKept, "show-kept", false, "also list the tags kept and why")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every decision (kept ones too) and the garbage collection as JSON")
	_ = cmd.MarkFlagRequired("policy")
	cmd.AddCommand(cleanupStatusCmd())
	registryCmd.AddCommand(cmd)
}

// cleanupStatusCmd prints when each rule of a server's cleanup policy last
// ran and runs next.
func cleanupStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "When each cleanup rule of a Slipway server last ran and runs next",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st struct {
				CheckEvery string `json:"check_every"`
				Rules      []struct {
					Repositories string     `json:"repositories"`
					Cadence      string     `json:"cadence"`
					LastRunAt    *time.Time `json:"last_run_at"`
					NextRunAt    time.Time  `json:"next_run_at"`
					LastDeleted  int        `json:"last_deleted"`
				} `json:"rules"`
			}
			if err := newAPIClient(cmd).do("GET", "/api/registry/cleanup", nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORIES\tCADENCE\tLAST RUN\tDELETED\tNEXT RUN")
			for _, r := range st.Rules {
				last, deleted := "never", "-"
				if r.LastRunAt != nil {
					last, deleted = r.LastRunAt.Local().Format(time.DateTime), fmt.Sprint(r.LastDeleted)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Repositories, r.Cadence, last, deleted, r.NextRunAt.Local().Format(time.DateTime))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "due rules are looked for every %s\n", st.CheckEvery)
			return nil
		},
	}
	cmd.Flags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
