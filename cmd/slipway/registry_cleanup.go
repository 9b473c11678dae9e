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
	_ = cmd.MarkFlagRequired("policy")
	registryCmd.AddCommand(cmd)
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
