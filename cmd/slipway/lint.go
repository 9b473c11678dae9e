package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
)

func init() {
	lintCmd.Args = cobra.MaximumNArgs(1)
	lintCmd.Long = "Check a pipeline file (default: .gitlab-ci.yml of the repository here) and everything it\n" +
		"includes. Every problem is printed as file:line:col: message. Exit 1 when there is one."
	var asJSON bool
	lintCmd.Flags().BoolVar(&asJSON, "json", false, `print {"file", "valid", "errors": [{"file", "line", "col", "message"}]}`)
	lintCmd.RunE = func(cmd *cobra.Command, args []string) error {
		file := ".gitlab-ci.yml"
		if len(args) == 1 {
			file = args[0]
		}
		_, err := loadPipeline(file)
		if asJSON {
			res := lintResult{File: file, Valid: err == nil, Errors: []lintError{}}
			for _, e := range ci.Errors(err) {
				res.Errors = append(res.Errors, lintError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
			}
			if perr := printJSON(cmd.OutOrStdout(), res); perr != nil || err == nil {
				return perr
			}
			return exitError{code: 1}
		}
		if err != nil {
			for _, e := range ci.Errors(err) {
				fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
			}
			return exitError{code: 1}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
		return nil
	}
}

// lintResult is lint --json's answer.
type lintResult struct {
	File   string      `json:"file"`
	Valid  bool        `json:"valid"`
	Errors []lintError `json:"errors"`
}

type lintError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

// loadPipeline loads a pipeline file with includes resolved against the
// repository that holds it.
func loadPipeline(file string) (*ci.Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("pipeline file: %w", err)
	}
	return ci.Load(abs, ci.LoadOptions{ProjectDir: projectRoot(filepath.Dir(abs))})
}

// projectRoot is the git repository root above dir, or dir itself.
func projectRoot(dir string) string {
	if r, err := gitinfo.Open(dir); err == nil {
		return r.Dir
	}
	return dir
}
