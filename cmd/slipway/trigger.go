package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/store"
)

func init() {
	triggerCmd := &cobra.Command{Use: "trigger", Short: "Pipeline trigger tokens on a Slipway server: create, list, delete, run"}
	triggerCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var description string
	create := &cobra.Command{
		Use:   "create PROJECT",
		Short: "Make a trigger token; it is printed this once",
		Args:  needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Trigger store.TriggerToken `json:"trigger"`
				Token   string             `json:"token"`
			}
			if err := newAPIClient(cmd).do("POST", projectPath(args[0], "triggers"), map[string]string{"description": description}, &res); err != nil {
				return err
			}
			// The token alone on stdout, for TOKEN=$(slipway trigger create ...).
			fmt.Fprintf(cmd.ErrOrStderr(), "trigger %d of %s created; its token, shown this once:\n", res.Trigger.ID, args[0])
			fmt.Fprintln(cmd.OutOrStdout(), res.Token)
			return nil
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the token is for")

	var listJSON bool
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a project's trigger tokens (their first characters, never the tokens)", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", projectPath(args[0], "triggers"), nil, &raw); err != nil {
				return err
			}
			if listJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var ts []store.TriggerToken
			if err := json.Unmarshal(raw, &ts); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESCRIPTION\tTOKEN\tCREATED\tLAST USED")
			for _, t := range ts {
				last := "never"
				if t.LastUsedAt != nil {
					last = t.LastUsedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\n", t.ID, t.Description, t.Prefix, t.CreatedAt.Local().Format(time.DateTime), last)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the API's JSON")

	del := &cobra.Command{
		Use: "delete PROJECT TRIGGER-ID", Short: "Revoke a trigger token", Args: needArgs("PROJECT", "TRIGGER-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := newAPIClient(cmd).do("DELETE", projectPath(args[0], "triggers", args[1]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trigger %s of %s deleted\n", args[1], args[0])
			return nil
		},
	}

	var ref string
	var vars []string
	var runJSON bool
	run := &cobra.Command{
		Use:   "run PROJECT",
		Short: "Run a pipeline with a trigger token from $SLIPWAY_TRIGGER_TOKEN (as GitLab's trigger API)",
		Args:  needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := os.Getenv("SLIPWAY_TRIGGER_TOKEN")
			if token == "" {
				return fmt.Errorf("$SLIPWAY_TRIGGER_TOKEN is not set: export the token trigger create printed")
			}
			form := url.Values{"token": {token}, "ref": {ref}}
			kvs, err := variableMap(vars)
			if err != nil {
				return err
			}
			for k, v := range kvs {
				form.Set("variables["+k+"]", v)
			}
			c := newAPIClient(cmd)
			c.token = "" // the trigger token authorizes this call
			path := projectPath(args[0], "trigger", "pipeline")
			resp, err := c.send("POST", path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode >= 300 {
				return c.failed("POST", path, resp)
			}
			var raw json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
				return err
			}
			if runJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var p apiPipeline
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			printCreated(cmd.OutOrStdout(), p)
			return nil
		},
	}
	run.Flags().StringVar(&ref, "ref", "", "branch or tag (default: the project's default branch)")
	run.Flags().StringArrayVar(&vars, "variable", nil, "pipeline variable `K=V` (repeatable)")
	run.Flags().BoolVar(&runJSON, "json", false, "print the pipeline as the API's JSON")

	triggerCmd.AddCommand(create, list, del, run)
	rootCmd.AddCommand(triggerCmd)
}
