package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/store"
)

// variableMap reads repeated --variable K=V flags for the API.
func variableMap(kvs []string) (map[string]string, error) {
	list, err := parseVariables(kvs)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, v := range list {
		vars[v.Name] = v.Value
	}
	return vars, nil
}

func schedulePath(project string, id ...string) string {
	return projectPath(project, append([]string{"schedules"}, id...)...)
}

// scheduleFields are the flags of create and update; update sends only
// the ones given.
type scheduleFields struct {
	description, cron, timezone, ref string
	variables                        []string
}

func (f *scheduleFields) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.description, "description", "", "what the schedule is for")
	fl.StringVar(&f.cron, "cron", "", "five cron fields or a descriptor (@daily, @every 1h)")
	fl.StringVar(&f.timezone, "timezone", "", "IANA time zone the cron times are read in (default UTC)")
	fl.StringVar(&f.ref, "ref", "", "branch or tag (default: the project's default branch)")
	fl.StringArrayVar(&f.variables, "variable", nil, "pipeline variable `K=V` (repeatable; on update they replace all)")
}

// body is the JSON of the flags the user gave.
func (f *scheduleFields) body(cmd *cobra.Command) (map[string]any, error) {
	b := map[string]any{}
	for flag, v := range map[string]string{"description": f.description, "cron": f.cron, "timezone": f.timezone, "ref": f.ref} {
		if cmd.Flags().Changed(flag) {
			b[flag] = v
		}
	}
	if cmd.Flags().Changed("variable") {
		vars, err := variableMap(f.variables)
		if err != nil {
			return nil, err
		}
		b["variables"] = vars
	}
	return b, nil
}

func printSchedule(cmd *cobra.Command, verb string, sc store.Schedule) {
	state := "active"
	if !sc.Active {
		state = "paused"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "schedule %d %s: %q %s on %s, %s, next run %s\n", sc.ID, verb, sc.Description, sc.Cron,
		sc.Ref, state, sc.NextRunAt.Local().Format(time.DateTime))
}

func init() {
	scheduleCmd := &cobra.Command{Use: "schedule", Short: "Pipeline schedules on a Slipway server"}
	scheduleCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var asJSON bool
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a project's schedules", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var scs []store.Schedule
			if err := newAPIClient(cmd).do("GET", schedulePath(args[0]), nil, &scs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), scs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESCRIPTION\tCRON\tTIMEZONE\tREF\tACTIVE\tNEXT RUN\tLAST PIPELINE\tVARIABLES")
			for _, sc := range scs {
				last := "-"
				if sc.LastPipelineID != nil {
					last = fmt.Sprint(*sc.LastPipelineID)
				}
				names := make([]string, 0, len(sc.Variables))
				for k := range sc.Variables {
					names = append(names, k)
				}
				sort.Strings(names)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", sc.ID, sc.Description, sc.Cron, sc.Timezone, sc.Ref, sc.Active,
					sc.NextRunAt.Local().Format(time.DateTime), last, strings.Join(names, ","))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var create scheduleFields
	var paused bool
	createCmd := &cobra.Command{
		Use: "create PROJECT --cron EXPR", Short: "Create a schedule", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := create.body(cmd)
			if err != nil {
				return err
			}
			b["active"] = !paused
			var sc store.Schedule
			if err := newAPIClient(cmd).do("POST", schedulePath(args[0]), b, &sc); err != nil {
				return err
			}
			printSchedule(cmd, "created", sc)
			return nil
		},
	}
	create.register(createCmd)
	createCmd.Flags().BoolVar(&paused, "paused", false, "create it paused")
	_ = createCmd.MarkFlagRequired("cron")

	var update scheduleFields
	updateCmd := &cobra.Command{
		Use: "update PROJECT SCHEDULE-ID", Short: "Change a schedule's description, cron, time zone, ref or variables", Args: needArgs("PROJECT", "SCHEDULE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := update.body(cmd)
			if err != nil {
				return err
			}
			return putSchedule(cmd, args, b, "updated")
		},
	}
	update.register(updateCmd)

	pause := &cobra.Command{
		Use: "pause PROJECT SCHEDULE-ID", Short: "Stop a schedule from running until resumed", Args: needArgs("PROJECT", "SCHEDULE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return putSchedule(cmd, args, map[string]any{"active": false}, "paused")
		},
	}
	resume := &cobra.Command{
		Use: "resume PROJECT SCHEDULE-ID", Short: "Let a paused schedule run again", Args: needArgs("PROJECT", "SCHEDULE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return putSchedule(cmd, args, map[string]any{"active": true}, "resumed")
		},
	}
	del := &cobra.Command{
		Use: "delete PROJECT SCHEDULE-ID", Short: "Delete a schedule", Args: needArgs("PROJECT", "SCHEDULE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sc store.Schedule
			if err := newAPIClient(cmd).do("DELETE", schedulePath(args[0], args[1]), nil, &sc); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schedule %d deleted\n", sc.ID)
			return nil
		},
	}
	run := &cobra.Command{
		Use: "run PROJECT SCHEDULE-ID", Short: "Run a schedule's pipeline now (its next run stays)", Args: needArgs("PROJECT", "SCHEDULE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p apiPipeline
			if err := newAPIClient(cmd).do("POST", schedulePath(args[0], args[1], "play"), nil, &p); err != nil {
				return err
			}
			printCreated(cmd.OutOrStdout(), p)
			return nil
		},
	}
	scheduleCmd.AddCommand(list, createCmd, updateCmd, pause, resume, del, run)
	rootCmd.AddCommand(scheduleCmd)
}

func putSchedule(cmd *cobra.Command, args []string, body map[string]any, verb string) error {
	var sc store.Schedule
	if err := newAPIClient(cmd).do("PUT", schedulePath(args[0], args[1]), body, &sc); err != nil {
		return err
	}
	printSchedule(cmd, verb, sc)
	return nil
}
