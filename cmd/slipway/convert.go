package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/convert"
)

func init() {
	convertCmd := &cobra.Command{
		Use:   "convert",
		Short: "Translate a .gitlab-ci.yml into another CI system's pipeline",
	}
	var out string
	var strict bool
	jenkins := &cobra.Command{
		Use:   "jenkins [FILE]",
		Short: "Translate a .gitlab-ci.yml (default) into a Jenkins declarative pipeline",
		Long: "Translate a GitLab CI pipeline file, with its includes, extends and !reference resolved,\n" +
			"into a Jenkinsfile (stdout, or -o FILE). What Jenkins cannot do as GitLab does is printed\n" +
			"as a warning, file:line:col: job NAME: message, on stderr. Exit 1 when the file is invalid,\n" +
			"2 when there are warnings and --strict is given (the Jenkinsfile is then not written).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ".gitlab-ci.yml"
			if len(args) == 1 {
				file = args[0]
			}
			cfg, err := loadPipeline(file)
			if err != nil {
				for _, e := range ci.Errors(err) {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
				return exitError{code: 1}
			}
			text, warnings := convert.Jenkins(cfg)
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: "+w.String())
			}
			if strict && len(warnings) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "slipway: %d warnings with --strict; no Jenkinsfile written\n", len(warnings))
				return exitError{code: 2}
			}
			if out == "" || out == "-" {
				_, err := fmt.Fprint(cmd.OutOrStdout(), text)
				return err
			}
			if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
				return fmt.Errorf("writing the Jenkinsfile: %w", err)
			}
			return nil
		},
	}
	jenkins.Flags().StringVarP(&out, "output", "o", "", "write the Jenkinsfile to `FILE` (default: stdout)")
	jenkins.Flags().BoolVar(&strict, "strict", false, "fail with exit code 2 when anything has no faithful translation")
	convertCmd.AddCommand(jenkins)
	rootCmd.AddCommand(convertCmd)
}
