package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// apiUsage is an environment's usage as the server's API answers it.
type apiUsage struct {
	Project     string            `json:"project"`
	Environment string            `json:"environment"`
	State       string            `json:"state"`
	SampledAt   time.Time         `json:"sampled_at"`
	Services    []apiServiceUsage `json:"services"`
}

type apiServiceUsage struct {
	Service          string  `json:"service"`
	State            string  `json:"state"`
	Health           string  `json:"health"`
	Up               bool    `json:"up"`
	RestartCount     int     `json:"restart_count"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	CPUPercent       float64 `json:"cpu_percent"`
	MemoryBytes      uint64  `json:"memory_bytes"`
	MemoryLimitBytes uint64  `json:"memory_limit_bytes"`
	NetworkRxPerSec  float64 `json:"network_rx_bytes_per_second"`
	NetworkTxPerSec  float64 `json:"network_tx_bytes_per_second"`
}

// init adds `slipway env usage` to the env command of env.go, whose init
// runs first (files initialise in name order).
func init() {
	var envCmd *cobra.Command
	for _, c := range rootCmd.Commands() {
		if c.Name() == "env" {
			envCmd = c
		}
	}
	if envCmd == nil {
		panic("env_usage.go: no env command to attach to")
	}
	var project string
	var asJSON bool
	usage := &cobra.Command{
		Use:   "usage PROJECT ENVIRONMENT",
		Short: "Show the health and CPU, memory and network use of an environment's services",
		Long: "Show each service of a running environment as the server last sampled it: its state and health,\n" +
			"restarts, uptime, CPU (percent of one core), memory (without page cache) and its limit, and the\n" +
			"network bytes per second in and out. ENVIRONMENT is its name (review/x), slug or ID.\n" +
			"--json prints the API's answer as it is, with each service's last hour of samples.",
		RunE: func(cmd *cobra.Command, args []string) error {
			project, args, err := projectArg(cmd, args, project, "ENVIRONMENT")
			if err != nil {
				return err
			}
			path := "/api/projects/" + url.PathEscape(project) + "/environments/" + url.PathEscape(args[0]) + "/usage"
			// --json passes the answer through untouched: every field
			// the server sends, today's and tomorrow's.
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", path, nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiUsage
			if err := json.Unmarshal(raw, &u); err != nil {
				return err
			}
			return printUsage(cmd.OutOrStdout(), u)
		},
	}
	usage.Flags().StringVar(&project, "project", "", "deprecated: give PROJECT as the first argument")
	_ = usage.Flags().MarkHidden("project")
	usage.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON, with each service's history")
	envCmd.AddCommand(usage)
}

func printUsage(w io.Writer, u apiUsage) error {
	fmt.Fprintf(w, "%s (%s), %s", u.Environment, u.Project, u.State)
	if !u.SampledAt.IsZero() {
		fmt.Fprintf(w, ", sampled %s", u.SampledAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w)
	return printServiceUsage(w, u.Services)
}

// printServiceUsage is the table of services of `env usage` and `gitops usage`.
func printServiceUsage(w io.Writer, services []apiServiceUsage) error {
	if len(services) == 0 {
		_, err := fmt.Fprintln(w, "no service runs, or none was sampled yet")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tRESTARTS\tUPTIME\tCPU\tMEMORY\tLIMIT\tNET IN\tNET OUT")
	for _, s := range services {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f%%\t%s\t%s\t%s/s\t%s/s\n", s.Service, s.State, s.Health, s.RestartCount,
			time.Duration(s.UptimeSeconds)*time.Second, s.CPUPercent, sizeIEC(float64(s.MemoryBytes)), sizeIEC(float64(s.MemoryLimitBytes)),
			sizeIEC(s.NetworkRxPerSec), sizeIEC(s.NetworkTxPerSec))
	}
	return tw.Flush()
}

// sizeIEC is a byte count for reading: 512B, 3.4KiB, 12.0MiB.
func sizeIEC(n float64) string {
	if n < 1024 {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	unit := 0
	for n >= 1024 && unit < 5 {
		n /= 1024
		unit++
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + "KMGTP"[unit-1:unit] + "iB"
}
