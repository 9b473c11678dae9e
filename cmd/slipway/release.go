package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/release"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/slug"
)

type releaseFlags struct {
	repos, report, workDir, executor string
	releaseVersions                  string
	variables                        []string
	parallel                         int
	dryRun, movePrereleaseTags, json bool
}

func init() {
	var f releaseFlags
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Plan and run release trains: components built group by group from a manifest",
	}
	plan := &cobra.Command{
		Use:   "plan MANIFEST",
		Short: "Print the groups, refs and commits a release would build, without running anything",
		Args:  needArgs("MANIFEST"),
		RunE:  func(cmd *cobra.Command, args []string) error { return releaseCommand(cmd, args[0], f, false) },
	}
	run := &cobra.Command{
		Use:   "run MANIFEST",
		Short: "Run each component's pipeline, group by group, and tag the repositories (not with --dry-run)",
		Long: "Run the .gitlab-ci.yml of every component of the release manifest (JSON or YAML) at its\n" +
			"pull-request branch, else its maintenance branch <major>.<minor>.x, else its default branch.\n" +
			"Groups of buildDependencies run one after the other; a failure starts no later group.\n" +
			"Pipelines get RELEASE_NAME, RELEASE_VERSION, COMPONENT_NAME, COMPONENT_VERSION and\n" +
			"RELEASE_DRY_RUN. A real run pushes the tag <component version> to each repository\n" +
			"whose version is a release version (no pre-release part such as -SNAPSHOT or -nightly).\n" +
			"Exit 0 only when every component succeeded.",
		Args: needArgs("MANIFEST"),
		RunE: func(cmd *cobra.Command, args []string) error { return releaseCommand(cmd, args[0], f, true) },
	}
	for _, c := range []*cobra.Command{plan, run} {
		fl := c.Flags()
		fl.StringVar(&f.repos, "repos", "", "folder of the components' repositories, or a URL base their names are appended to (default: the manifest's scmHttpUrl)")
		fl.BoolVar(&f.dryRun, "dry-run", false, "pipelines get RELEASE_DRY_RUN=true and nothing is tagged")
		fl.StringVar(&f.report, "report", "", "write the JSON report to `FILE`")
		fl.BoolVar(&f.json, "json", false, "print the JSON report (the plan, or the run's results) instead of text; a run's progress goes to stderr")
		fl.StringVar(&f.workDir, "work-dir", "", "folder for mirrors, pipelines, logs and reports (default: the user cache folder)")
		fl.StringVar(&f.releaseVersions, "release-versions", "", "`REGEXP` of the versions tagged as releases (default: versions without a pre-release part)")
		fl.BoolVar(&f.movePrereleaseTags, "move-prerelease-tags", false, "tag pre-release versions too, moving their tag to the commit each run built")
	}
	fl := run.Flags()
	fl.IntVar(&f.parallel, "parallel", 2, "components of one group running at once")
	fl.StringVar(&f.executor, "executor", "shell", "executor for the jobs: shell, docker, or auto (docker for jobs with image:)")
	fl.StringArrayVar(&f.variables, "variable", nil, "a pipeline variable `K=V` for every component (repeatable)")
	cmd.AddCommand(plan, run)
	rootCmd.AddCommand(cmd)
}

func releaseCommand(cmd *cobra.Command, manifestPath string, f releaseFlags, run bool) error {
	vars, err := parseVariables(f.variables)
	if err != nil {
		return err
	}
	tags, err := f.tags()
	if err != nil {
		return err
	}
	m, err := release.Load(manifestPath)
	if err != nil {
		return reportLoadError(cmd, err)
	}
	workDir := f.workDir
	if workDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		workDir = filepath.Join(base, "slipway", "releases")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src := release.Source{Repos: f.repos, Mirrors: &mirror.Mirrors{Dir: filepath.Join(workDir, "mirrors")}}
	plan, err := release.Resolve(ctx, m, src)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.json {
		out = cmd.ErrOrStderr() // stdout carries the JSON report only
	}
	if err := plan.WritePlan(out, f.dryRun); err != nil {
		return err
	}
	if !f.dryRun {
		// A real run would refuse to start: say so at plan time already.
		if err := release.CheckTags(plan, tags); err != nil {
			return err
		}
	}
	report := plan.Report(f.dryRun)
	if run {
		fmt.Fprintln(out)
		report, err = release.Run(ctx, plan, release.Options{
			DryRun: f.dryRun, Parallel: f.parallel, Executor: f.executor, Variables: vars,
			WorkDir: filepath.Join(workDir, "runs", releaseDirName(m)), Progress: out, Tags: tags,
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(out)
		if err := report.WriteSummary(out); err != nil {
			return err
		}
	}
	if f.report != "" {
		if err := report.Save(f.report); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	if f.json {
		if err := printJSON(cmd.OutOrStdout(), report); err != nil {
			return err
		}
	}
	if report.Status != release.Success && report.Status != release.Planned {
		return exitError{code: 1}
	}
	return nil
}

// tags is the tagging policy the flags ask for.
func (f releaseFlags) tags() (release.Tags, error) {
	tags := release.Tags{MovePrerelease: f.movePrereleaseTags}
	if f.releaseVersions != "" {
		re, err := regexp.Compile(f.releaseVersions)
		if err != nil {
			return tags, fmt.Errorf("--release-versions: %w", err)
		}
		tags.Release = re
	}
	return tags, nil
}

// releaseDirName keeps the runs of each release and manifest apart.
func releaseDirName(m *release.Manifest) string {
	abs, _ := filepath.Abs(m.File)
	sum := sha256.Sum256([]byte(abs))
	return slug.Label(m.Name+"-"+m.Version) + "-" + hex.EncodeToString(sum[:4])
}
