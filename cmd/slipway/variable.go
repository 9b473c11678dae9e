package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/store"
)

func init() {
	variableCmd := &cobra.Command{Use: "variable", Short: "A project's CI/CD variables on a Slipway server: list, set, delete"}
	variableCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var listJSON bool
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a project's variables (masked values as [MASKED]; needs the API token)", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", projectPath(args[0], "variables"), nil, &raw); err != nil {
				return err
			}
			if listJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var vs []store.Variable
			if err := json.Unmarshal(raw, &vs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVALUE\tMASKED\tPROTECTED\tUPDATED")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\n", v.Name, v.Value, v.Masked, v.Protected, v.UpdatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the API's JSON")

	var value string
	var masked, protected bool
	set := &cobra.Command{
		Use:   "set PROJECT NAME",
		Short: "Create or change a variable; its value from --value or stdin",
		Long: "Create or change a project variable. The value is --value, or else the first line of stdin (as\n" +
			"gh secret set reads it): secrets given as flags stay in the shell's history. --masked hides the\n" +
			"value in job logs and API answers (one line of 8 characters at least, without spaces); --protected\n" +
			"gives it only to pipelines of the default branch and tags.",
		Args: needArgs("PROJECT", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("value") {
				var err error
				if value, err = readSecretLine(cmd.InOrStdin(), "value of "+args[1]+" (or give --value)"); err != nil {
					return err
				}
			}
			var v store.Variable
			body := map[string]any{"value": value, "masked": masked, "protected": protected}
			if err := newAPIClient(cmd).do("PUT", projectPath(args[0], "variables", args[1]), body, &v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "variable %s of %s set (masked %t, protected %t)\n", v.Name, args[0], v.Masked, v.Protected)
			return nil
		},
	}
	set.Flags().StringVar(&value, "value", "", "the value (default: read from stdin)")
	set.Flags().BoolVar(&masked, "masked", false, "hide the value in job logs and API answers")
	set.Flags().BoolVar(&protected, "protected", false, "only for pipelines of the default branch and tags")

	del := &cobra.Command{
		Use: "delete PROJECT NAME", Short: "Delete a variable", Args: needArgs("PROJECT", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := newAPIClient(cmd).do("DELETE", projectPath(args[0], "variables", args[1]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "variable %s of %s deleted\n", args[1], args[0])
			return nil
		},
	}
	variableCmd.AddCommand(list, set, del)
	rootCmd.AddCommand(variableCmd)
}
