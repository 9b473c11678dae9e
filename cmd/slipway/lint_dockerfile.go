package main

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/image/lint"
)

func init() {
	var (
		format, configPath, threshold string
		ignore                        []string
	)
	cmd := &cobra.Command{
		Use:   "dockerfile PATH...",
		Short: "Lint Dockerfiles with hadolint's rules (DL3xxx, DL4xxx)",
		Long: `Lint Dockerfiles with hadolint's rules, ids and severities.

Configuration comes from --config, else .hadolint.yaml (or .hadolint.yml)
in the current folder: ignored, failure-threshold, trustedRegistries,
override. "# hadolint ignore=DL3008" on the line before an instruction
silences rules there. The command exits 1 when a finding reaches the
failure threshold (default info) or a file cannot be parsed.`,
		Args: minArgs("PATH"),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if !slices.Contains(lint.Formats, format) {
				return fmt.Errorf("--format: unknown format %q (want %s)", format, strings.Join(lint.Formats, ", "))
			}
			cfg, err := loadLintConfig(configPath)
			if err != nil {
				return err
			}
			cfg.Ignored = append(cfg.Ignored, ignore...)
			if threshold != "" {
				if cfg.FailureThreshold, err = lint.ParseSeverity(threshold); err != nil {
					return fmt.Errorf("--failure-threshold: %w", err)
				}
			}
			var all []lint.Finding
			failed := false
			for _, p := range paths {
				findings, err := lint.File(p, cfg)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "slipway:", err)
					failed = true
					continue
				}
				all = append(all, findings...)
			}
			if err := lint.Write(cmd.OutOrStdout(), format, all); err != nil {
				return err
			}
			if failed || cfg.Fails(all) {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json or gitlab (GitLab Code Quality)")
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "hadolint configuration file (default: .hadolint.yaml in the current folder)")
	cmd.Flags().StringVar(&threshold, "failure-threshold", "", "least severity that fails: error, warning, info, style or none (overrides the config)")
	// -f and -t were hadolint's shorthands; in slipway -f is a file (or
	// follow) and -t a tag, as in docker: the old ones still work, with a
	// notice.
	oldShorthand(cmd, &format, "format", "f", "text")
	oldShorthand(cmd, &threshold, "failure-threshold", "t", "")
	cmd.Flags().StringSliceVar(&ignore, "ignore", nil, "rule ids to ignore (repeatable, comma-separated)")
	lintCmd.AddCommand(cmd)
}

// loadLintConfig reads the named file, or the first of lint.ConfigFileNames
// found in the current folder, or returns the defaults.
func loadLintConfig(path string) (lint.Config, error) {
	if path != "" {
		return lint.LoadConfig(path)
	}
	for _, name := range lint.ConfigFileNames {
		cfg, err := lint.LoadConfig(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return cfg, err
	}
	return lint.Config{}, nil
}
