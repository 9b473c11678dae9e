package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/jobproc"
)

type runFlags struct {
	ref, source, file, report, workDir, executor string
	kube                                         kubeFlags
	variables, manual                            []string
	concurrency                                  int
	outputLimit                                  int64
	needs, list, json                            bool
}

func init() {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [JOB...]",
		Short: "Run the pipeline of the git repository here, locally",
		Long: "Run the .gitlab-ci.yml of the repository the current folder is in, for its current commit\n" +
			"(or --ref), with GitLab's semantics. Named jobs run alone (with --needs, with what they need).\n" +
			"Exit 0 only when the pipeline succeeded.",
		RunE: func(cmd *cobra.Command, args []string) error { return runPipeline(cmd, args, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ref, "ref", "", "branch, tag or commit to run (default: the checked-out branch)")
	fl.StringVar(&f.source, "source", "push", "CI_PIPELINE_SOURCE: push, merge_request_event, schedule, web, api or trigger")
	fl.StringVarP(&f.file, "file", "f", "", "pipeline file, relative to the repository root (default .gitlab-ci.yml)")
	fl.StringArrayVar(&f.variables, "variable", nil, "a pipeline variable `K=V` (repeatable); wins over the file's")
	fl.StringArrayVar(&f.manual, "manual", nil, "also run this manual `JOB` (repeatable)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "jobs running at once (default: the number of CPUs)")
	fl.Int64Var(&f.outputLimit, "output-limit", engine.DefaultOutputLimit, "bytes of each job's output to keep; the rest is dropped after a line that says so")
	fl.BoolVar(&f.needs, "needs", false, "with named jobs: also run what they need")
	fl.BoolVar(&f.list, "list", false, "print the planned jobs instead of running them")
	fl.BoolVar(&f.json, "json", false, "with --list: print JSON")
	fl.StringVar(&f.report, "report", "", "write a JSON report of the run to `FILE`")
	fl.StringVar(&f.workDir, "work-dir", "", "folder for working copies, artifacts and cache (default: the user cache folder)")
	fl.StringVar(&f.executor, "executor", "shell", "executor for the jobs: shell, docker, kubernetes, or auto (kubernetes for jobs with image: when a cluster is configured, else docker; shell for the others); default: executor in ~/.config/slipway/config.yml, else shell")
	f.kube.register(fl)
	rootCmd.AddCommand(cmd)
}

func runPipeline(cmd *cobra.Command, args []string, f runFlags) error {
	if f.outputLimit <= 0 {
		return fmt.Errorf("--output-limit %d: want a positive number of bytes", f.outputLimit)
	}
	vars, err := parseVariables(f.variables)
	if err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	run, err := newLocalRun(cwd, f.file, f.ref, f.source, vars)
	if err != nil {
		return reportLoadError(cmd, err)
	}
	plan, err := ci.NewPlan(run.Config, run.Ctx)
	if err != nil {
		return reportLoadError(cmd, err)
	}
	if len(args) > 0 {
		if err := plan.Select(args, f.needs); err != nil {
			return err
		}
	}
	if f.list {
		return listPlan(cmd.OutOrStdout(), plan, f.json)
	}
	cfg, _, err := loadCLIConfig()
	if err != nil {
		return err
	}
	if !cmd.Flags().Changed("executor") && cfg.Executor != "" {
		f.executor = cfg.Executor
	}
	kube := f.kube.options(cmd.Flags(), cfg.Kubernetes, f.executor == "kubernetes")
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pick, err := byname.ForConfig(ctx, f.executor, byname.Config{Kubernetes: kube}, plan, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// A killed slipway's shell jobs may run on; end them before this run's.
	if n := jobproc.KillOrphans(); n > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "slipway: killed %d processes that the jobs of a killed slipway left running\n", n)
	}
	workDir := f.workDir
	if workDir == "" {
		if workDir, err = defaultWorkDir(run.Repo.Dir); err != nil {
			return err
		}
	}
	// Earlier runs' artifacts whose expire_in has passed go first.
	if removed, err := engine.ExpireArtifacts(workDir, time.Now()); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "slipway: expiring artifacts: %v\n", err)
	} else if len(removed) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "slipway: removed the expired artifacts of %d jobs in %s\n", len(removed), workDir)
	}
	printer := engine.NewPrinter(cmd.OutOrStdout(), plan)
	result, err := engine.Run(ctx, plan, engine.Options{
		Repo: run.Repo.Dir, Commit: run.Info.SHA, WorkDir: workDir,
		ExecutorFor: pick.Executor, Concurrency: f.concurrency, Manual: f.manual,
		Events: printer.Handle, OutputLimit: f.outputLimit,
	})
	if err != nil {
		return err
	}
	if f.report != "" {
		data, err := json.MarshalIndent(result, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.report, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	if result.Status != engine.Success {
		return exitError{code: 1}
	}
	return nil
}

// reportLoadError prints every problem of a pipeline file on its own line.
func reportLoadError(cmd *cobra.Command, err error) error {
	if errors.Is(err, ci.ErrNoPipeline) {
		return err
	}
	list := ci.Errors(err)
	if len(list) <= 1 {
		return err
	}
	for _, e := range list {
		fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
	}
	return exitError{code: 1}
}

func parseVariables(kvs []string) (ci.Variables, error) {
	var out ci.Variables
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--variable %q: want KEY=VALUE", kv)
		}
		out = append(out, ci.Variable{Name: k, Value: v})
	}
	return out, nil
}

// defaultWorkDir keeps each repository's runs apart under the user's cache.
func defaultWorkDir(repoDir string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(repoDir))
	return filepath.Join(base, "slipway", "runs", filepath.Base(repoDir)+"-"+hex.EncodeToString(sum[:4])), nil
}

// plannedJob is one row of `run --list --json`.
type plannedJob struct {
	Name         string   `json:"name"`
	Stage        string   `json:"stage"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
	Needs        []string `json:"needs"`
}

func listPlan(w io.Writer, plan *ci.Plan, asJSON bool) error {
	rows := make([]plannedJob, 0, len(plan.Jobs))
	for _, j := range plan.Jobs {
		row := plannedJob{Name: j.Name, Stage: j.Stage, When: string(j.When), AllowFailure: j.AllowFailure.Allowed || len(j.AllowFailure.ExitCodes) > 0}
		if j.Needs != nil {
			row.Needs = []string{}
			for _, n := range j.Needs {
				row.Needs = append(row.Needs, n.Job)
			}
		}
		rows = append(rows, row)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTAGE\tWHEN\tALLOW FAILURE\tNEEDS")
	for _, r := range rows {
		needs := "(stage order)"
		if r.Needs != nil {
			needs = strings.Join(r.Needs, ", ")
			if needs == "" {
				needs = "(none)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.Stage, r.When, r.AllowFailure, needs)
	}
	return tw.Flush()
}
