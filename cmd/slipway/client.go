package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/spf13/cobra"
)

// apiClient talks to a Slipway server's API: --server or $SLIPWAY_SERVER,
// the token from $SLIPWAY_TOKEN.
type apiClient struct {
	base  string
	token string
}

func newAPIClient(cmd *cobra.Command) apiClient {
	base, _ := cmd.Flags().GetString("server")
	if base == "" {
		base = os.Getenv("SLIPWAY_SERVER")
	}
	if base == "" {
		if cfg, _, err := loadCLIConfig(); err == nil {
			base = cfg.Server
		}
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	return apiClient{base: strings.TrimSuffix(base, "/"), token: os.Getenv("SLIPWAY_TOKEN")}
}

func (c apiClient) do(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	resp, err := c.send(method, path, "application/json", r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.failed(method, path, resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes one request with the token; a server that does not answer is
// an error that says which one and what to check.
func (c apiClient) send(method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("--server %s: %w", c.base, err)
	}
	req.Header.Set("Content-Type", contentType)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, unreachable(c.base, err)
	}
	return resp, nil
}

// unreachable says that the server at base did not answer, why in a few
// words, and where its address came from.
func unreachable(base string, err error) error {
	why := err
	var ue *url.Error
	if errors.As(err, &ue) {
		why = ue.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		why = errno
	}
	return fmt.Errorf("server %s did not answer (%v): check --server or $SLIPWAY_SERVER, and that slipway serve runs there", base, why)
}

// failed is the error of an answer >= 300: the API's error message, and
// for 401 what to set.
func (c apiClient) failed(method, path string, resp *http.Response) error {
	var e struct{ Error string }
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &e) != nil {
		e.Error = strings.TrimSpace(string(data))
	}
	msg := fmt.Sprintf("%s %s: %s", method, path, resp.Status)
	if e.Error != "" {
		// Plain-text answers of a server or its proxy say "slipway:"
		// already: the CLI's own prefix is enough.
		msg += ": " + strings.TrimPrefix(strings.ReplaceAll(e.Error, "\n", "; "), "slipway: ")
	}
	if resp.StatusCode == http.StatusUnauthorized {
		msg += "; set $SLIPWAY_TOKEN to the API token of " + c.base
	}
	return errors.New(msg)
}

type apiJob struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Stage         string `json:"stage"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
	DurationNS    int64  `json:"duration_ns"`
}

type apiPipeline struct {
	ID        int64     `json:"id"`
	Number    int64     `json:"number"`
	Source    string    `json:"source"`
	Ref       string    `json:"ref"`
	SHA       string    `json:"sha"`
	Status    string    `json:"status"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	Jobs      []apiJob  `json:"jobs"`
}

func init() {
	pipelineCmd := &cobra.Command{Use: "pipeline", Short: "Pipelines on a Slipway server"}
	pipelineCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")
	jobCmd := &cobra.Command{Use: "job", Short: "Jobs on a Slipway server"}
	jobCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var ref, status string
	var asJSON bool
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a project's pipelines, newest first", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if ref != "" {
				q.Set("ref", ref)
			}
			if status != "" {
				q.Set("status", status)
			}
			var ps []apiPipeline
			path := "/api/projects/" + url.PathEscape(args[0]) + "/pipelines"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			if err := newAPIClient(cmd).do("GET", path, nil, &ps); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\t#\tSTATUS\tREF\tSHA\tSOURCE\tCREATED")
			for _, p := range ps {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.8s\t%s\t%s\n", p.ID, p.Number, p.Status, p.Ref, p.SHA, p.Source, p.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&ref, "ref", "", "only this branch or tag")
	list.Flags().StringVar(&status, "status", "", "only this status")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var runRef string
	var runVars []string
	var wait, runJSON bool
	run := &cobra.Command{
		Use: "run PROJECT", Short: "Run a project's pipeline on the server", Args: needArgs("PROJECT"),
		Long: "Run a project's pipeline and print its ID. With --wait, print each job as it finishes and the\n" +
			"pipeline at the end; exit 1 unless it succeeded. --json prints the API's JSON of the pipeline: as\n" +
			"created, or with --wait as it ended (the jobs as they finish then go to stderr).",
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := variableMap(runVars)
			if err != nil {
				return err
			}
			c := newAPIClient(cmd)
			var p apiPipeline
			var raw json.RawMessage
			if err := c.do("POST", "/api/projects/"+url.PathEscape(args[0])+"/pipelines", map[string]any{"ref": runRef, "variables": vars}, &raw); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			if !runJSON || wait {
				printCreated(progressOut(cmd, runJSON), p)
			}
			if !wait {
				if runJSON {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				return nil
			}
			if raw, err = waitPipeline(cmd, c, p, progressOut(cmd, runJSON)); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			if runJSON {
				err = printJSON(cmd.OutOrStdout(), raw)
			} else {
				printPipeline(cmd, p)
			}
			if err == nil && p.Status != "success" {
				err = exitError{code: 1}
			}
			return err
		},
	}
	run.Flags().StringVar(&runRef, "ref", "", "branch (default: the project's default branch)")
	run.Flags().StringArrayVar(&runVars, "variable", nil, "pipeline variable `K=V` (repeatable)")
	run.Flags().BoolVar(&wait, "wait", false, "wait for the pipeline to finish, showing jobs as they finish; exit 1 unless it succeeded")
	run.Flags().BoolVar(&runJSON, "json", false, "print the pipeline as the API's JSON")

	var showJSON bool
	show := &cobra.Command{
		Use: "show PIPELINE-ID", Short: "Show a pipeline and its jobs", Args: needArgs("PIPELINE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", "/api/pipelines/"+url.PathEscape(args[0]), nil, &raw); err != nil {
				return err
			}
			if showJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var p apiPipeline
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			printPipeline(cmd, p)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print the API's JSON of the pipeline and its jobs")
	cancel := &cobra.Command{
		Use: "cancel PIPELINE-ID", Short: "Cancel a running pipeline", Args: needArgs("PIPELINE-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Any server takes the cancel; the one that runs the pipeline
			// carries it out, at once or on its next heartbeat.
			var p apiPipeline
			if err := newAPIClient(cmd).do("POST", "/api/pipelines/"+url.PathEscape(args[0])+"/cancel", nil, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pipeline %d: canceling\n", p.ID)
			return nil
		},
	}
	pipelineCmd.AddCommand(list, run, show, cancel)

	var follow bool
	logCmd := &cobra.Command{
		Use: "log JOB-ID", Short: "Print a job's log (-f: follow it live)", Args: needArgs("JOB-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJobLog(cmd, args[0], follow)
		},
	}
	logCmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log while the job runs")
	var retryJSON, playJSON bool
	retry := &cobra.Command{
		Use: "retry JOB-ID", Short: "Run a finished job again (prints the new job's id)", Args: needArgs("JOB-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return resumeJob(cmd, args[0], "retry", retryJSON)
		},
	}
	retry.Flags().BoolVar(&retryJSON, "json", false, "print the API's answer: the pipeline and its jobs")
	play := &cobra.Command{
		Use: "play JOB-ID", Short: "Run a manual job", Args: needArgs("JOB-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return resumeJob(cmd, args[0], "play", playJSON)
		},
	}
	play.Flags().BoolVar(&playJSON, "json", false, "print the API's answer: the pipeline and its jobs")
	jobCmd.AddCommand(logCmd, retry, play)
	rootCmd.AddCommand(pipelineCmd, jobCmd)
}

// resumeJob retries or plays job id (action is the API's verb) and prints
// the job that runs now: a retry is a new job, with its own id.
func resumeJob(cmd *cobra.Command, id, action string, asJSON bool) error {
	c := newAPIClient(cmd)
	var job apiJob
	if err := c.do("GET", "/api/jobs/"+url.PathEscape(id), nil, &job); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do("POST", "/api/jobs/"+url.PathEscape(id)+"/"+action, nil, &raw); err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var p apiPipeline
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	// The answer lists the latest attempt of each job: the one that runs.
	for _, j := range p.Jobs {
		if j.Name == job.Name {
			fmt.Fprintf(cmd.OutOrStdout(), "job %d %s (%s): %s in pipeline %d; its log: slipway job log %d\n", j.ID, j.Name, j.Stage, j.Status, p.ID, j.ID)
			return nil
		}
	}
	return fmt.Errorf("job %s: %s accepted, but pipeline %d has no job %s", id, action, p.ID, job.Name)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printCreated is the line of a pipeline just created; scripts read its ID
// with "pipeline %d".
func printCreated(w io.Writer, p apiPipeline) {
	fmt.Fprintf(w, "pipeline %d (#%d) %s on %s\n", p.ID, p.Number, p.Status, p.Ref)
}

func printPipeline(cmd *cobra.Command, p apiPipeline) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "pipeline %d (#%d) %s — %s %.8s (%s)\n", p.ID, p.Number, p.Status, p.Ref, p.SHA, p.Source)
	if p.Error != "" {
		fmt.Fprintf(w, "error: %s\n", p.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB ID\tJOB\tSTAGE\tSTATUS\tDURATION\tREASON")
	for _, j := range p.Jobs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.Stage, j.Status, time.Duration(j.DurationNS).Round(time.Millisecond), j.FailureReason)
	}
	tw.Flush()
}

// printJobLog prints a job's log; with follow it reads the server-sent
// events stream until the log ends.
func printJobLog(cmd *cobra.Command, id string, follow bool) error {
	c := newAPIClient(cmd)
	path := "/api/jobs/" + url.PathEscape(id) + "/log"
	if follow {
		path += "/stream"
	}
	resp, err := c.send("GET", path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.failed("GET", path, resp)
	}
	out := cmd.OutOrStdout()
	if !follow {
		_, err := io.Copy(out, resp.Body)
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event == "end" {
				return nil
			}
			fmt.Fprintln(out, strings.TrimPrefix(line, "data: "))
		case line == "":
			event = ""
		}
	}
	return sc.Err()
}

// progressOut is where progress lines go: stderr when stdout is for JSON.
func progressOut(cmd *cobra.Command, asJSON bool) io.Writer {
	if asJSON {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// waitPipeline polls the pipeline until it ends, printing each job to
// progress when it finishes (and again when a retry of it finishes), and
// returns the pipeline's last JSON.
func waitPipeline(cmd *cobra.Command, c apiClient, p apiPipeline, progress io.Writer) (json.RawMessage, error) {
	done := map[int64]bool{}
	for {
		var raw json.RawMessage
		if err := c.do("GET", fmt.Sprintf("/api/pipelines/%d", p.ID), nil, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		for _, j := range p.Jobs {
			if done[j.ID] || !store.Status(j.Status).Finished() {
				continue
			}
			done[j.ID] = true
			fmt.Fprintf(progress, "job %d %s (%s): %s", j.ID, j.Name, j.Stage, j.Status)
			if j.FailureReason != "" {
				fmt.Fprintf(progress, " (%s)", j.FailureReason)
			}
			if j.DurationNS > 0 {
				fmt.Fprintf(progress, " in %s", time.Duration(j.DurationNS).Round(time.Millisecond))
			}
			if j.Status == "failed" {
				fmt.Fprintf(progress, "; its log: slipway job log %d", j.ID)
			}
			fmt.Fprintln(progress)
		}
		if !store.Status(p.Status).Active() {
			return raw, nil
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
