package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
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
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
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
		Use: "list PROJECT", Short: "List a project's pipelines, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if ref != "" {
				q.Set("ref", ref)
			}
			if status != "" {
				q.Set("status", status)
			}
			var ps []apiPipeline
			if err := newAPIClient(cmd).do("GET", "/api/projects/"+url.PathEscape(args[0])+"/pipelines?"+q.Encode(), nil, &ps); err != nil {
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
	var wait bool
	run := &cobra.Command{
		Use: "run PROJECT", Short: "Run a project's pipeline on the server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := variableMap(runVars)
			if err != nil {
				return err
			}
			c := newAPIClient(cmd)
			var p apiPipeline
			if err := c.do("POST", "/api/projects/"+url.PathEscape(args[0])+"/pipelines", map[string]any{"ref": runRef, "variables": vars}, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pipeline %d (#%d) %s on %s\n", p.ID, p.Number, p.Status, p.Ref)
			if !wait {
				return nil
			}
			for store.Status(p.Status).Active() {
				time.Sleep(500 * time.Millisecond)
				if err := c.do("GET", fmt.Sprintf("/api/pipelines/%d", p.ID), nil, &p); err != nil {
					return err
				}
			}
			printPipeline(cmd, p)
			if p.Status != "success" {
				return exitError{code: 1}
			}
			return nil
		},
	}
	run.Flags().StringVar(&runRef, "ref", "", "branch (default: the project's default branch)")
	run.Flags().StringArrayVar(&runVars, "variable", nil, "pipeline variable `K=V` (repeatable)")
	run.Flags().BoolVar(&wait, "wait", false, "wait for the pipeline to finish; exit 1 unless it succeeded")

	show := &cobra.Command{
		Use: "show PIPELINE-ID", Short: "Show a pipeline and its jobs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p apiPipeline
			if err := newAPIClient(cmd).do("GET", "/api/pipelines/"+url.PathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			printPipeline(cmd, p)
			return nil
		},
	}
	cancel := &cobra.Command{
		Use: "cancel PIPELINE-ID", Short: "Cancel a running pipeline", Args: cobra.ExactArgs(1),
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
		Use: "log JOB-ID", Short: "Print a job's log (-f: follow it live)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJobLog(cmd, args[0], follow)
		},
	}
	logCmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log while the job runs")
	retry := &cobra.Command{
		Use: "retry JOB-ID", Short: "Run a finished job again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return newAPIClient(cmd).do("POST", "/api/jobs/"+url.PathEscape(args[0])+"/retry", nil, nil)
		},
	}
	play := &cobra.Command{
		Use: "play JOB-ID", Short: "Run a manual job", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return newAPIClient(cmd).do("POST", "/api/jobs/"+url.PathEscape(args[0])+"/play", nil, nil)
		},
	}
	jobCmd.AddCommand(logCmd, retry, play)
	rootCmd.AddCommand(pipelineCmd, jobCmd)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	resp, err := http.Get(c.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("job %s: %s: %s", id, resp.Status, strings.TrimSpace(string(msg)))
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
