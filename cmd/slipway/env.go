package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type apiEnvironment struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Slug       string     `json:"slug"`
	URL        string     `json:"url"`
	State      string     `json:"state"`
	Tier       string     `json:"tier"`
	OnStopJob  string     `json:"on_stop_job"`
	AutoStopAt *time.Time `json:"auto_stop_at"`
	Images     map[string]string
	UpdatedAt  time.Time `json:"updated_at"`
}

func init() {
	envCmd := &cobra.Command{Use: "env", Short: "Environments: deploy and stop from a job, list, show and stop on a server"}
	envCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var composeFile string
	var vars []string
	deploy := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy this job's environment from a Compose file (run it in a deploy job)",
		Long: "Deploy the environment of the running job (its environment: keyword) from a Compose file of the\n" +
			"repository: the server pins the images by digest, starts the services on its Docker host and routes\n" +
			"their hostnames through its proxy. It uses the job's CI_JOB_TOKEN; the job's variables fill ${VARS}.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, job, err := jobClient(cmd)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(composeFile)
			if err != nil {
				return fmt.Errorf("--compose: %w", err)
			}
			// The Compose file sees the job's variables, as docker compose
			// would; only those it names leave the job.
			env := map[string]string{}
			for _, m := range composeVariable.FindAllStringSubmatch(string(data), -1) {
				if v, ok := os.LookupEnv(m[1]); ok {
					env[m[1]] = v
				}
			}
			for _, kv := range vars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--var %q: want KEY=VALUE", kv)
				}
				env[k] = v
			}
			var res struct {
				Environment apiEnvironment `json:"environment"`
				Services    []struct{ Name, Host, URL, Addr string }
			}
			body := map[string]any{"job": job, "compose_name": filepath.Base(composeFile), "compose": data, "vars": env}
			if err := c.do("POST", "/api/job/environment/deploy", body, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "environment %s deployed", res.Environment.Name)
			if res.Environment.URL != "" {
				fmt.Fprintf(out, ": %s", res.Environment.URL)
			}
			fmt.Fprintln(out)
			for _, s := range res.Services {
				url := s.URL // with the proxy's port when not 80 (443)
				if url == "" {
					url = "http://" + s.Host + "/"
				}
				fmt.Fprintf(out, "  %s: %s (%s)\n", s.Name, url, s.Addr)
			}
			return nil
		},
	}
	deploy.Flags().StringVar(&composeFile, "compose", "compose.yaml", "the environment's Compose file")
	deploy.Flags().StringArrayVar(&vars, "var", nil, "a variable `K=V` for the Compose file (repeatable)")

	var project string
	stop := &cobra.Command{
		Use:   "stop [ENVIRONMENT-ID]",
		Short: "Stop an environment: in a stop job, this job's; otherwise the one named by ID",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				c, job, err := jobClient(cmd)
				if err != nil {
					return err
				}
				var e apiEnvironment
				if err := c.do("POST", "/api/job/environment/stop", map[string]string{"job": job}, &e); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "environment %s %s\n", e.Name, e.State)
				return nil
			}
			var e apiEnvironment
			if err := newAPIClient(cmd).do("POST", "/api/environments/"+url.PathEscape(args[0])+"/stop", nil, &e); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "environment %s %s\n", e.Name, e.State)
			return nil
		},
	}
	var listJSON bool
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a project's environments",
		RunE: func(cmd *cobra.Command, args []string) error {
			project, _, err := projectArg(cmd, args, project)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", "/api/projects/"+url.PathEscape(project)+"/environments", nil, &raw); err != nil {
				return err
			}
			if listJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var envs []apiEnvironment
			if err := json.Unmarshal(raw, &envs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tURL\tUPDATED")
			for _, e := range envs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.State, e.URL, e.UpdatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&project, "project", "", "deprecated: give PROJECT as the argument")
	_ = list.Flags().MarkHidden("project")
	list.Flags().BoolVar(&listJSON, "json", false, "print the API's JSON")
	show := &cobra.Command{
		Use: "show ENVIRONMENT-ID", Short: "Show an environment (as the API's JSON)", Args: needArgs("ENVIRONMENT-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e map[string]any
			if err := newAPIClient(cmd).do("GET", "/api/environments/"+url.PathEscape(args[0]), nil, &e); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), e)
		},
	}
	envCmd.AddCommand(deploy, stop, list, show, envCACmd())
	rootCmd.AddCommand(envCmd)
}

// composeVariable finds the variables a Compose file interpolates: $VAR,
// ${VAR}, ${VAR:-default}...
var composeVariable = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// jobClient is the API client of a running job: the server and token come
// from the job's SLIPWAY_SERVER and CI_JOB_TOKEN.
func jobClient(cmd *cobra.Command) (apiClient, string, error) {
	c := newAPIClient(cmd)
	c.token = os.Getenv("CI_JOB_TOKEN")
	job := os.Getenv("CI_JOB_NAME")
	if c.token == "" || job == "" {
		return c, "", fmt.Errorf("run this in a pipeline job of a Slipway server (CI_JOB_TOKEN and CI_JOB_NAME are not set)")
	}
	return c, job, nil
}
