package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/store"
)

func projectPath(project string, rest ...string) string {
	p := "/api/projects/" + url.PathEscape(project)
	for _, part := range rest {
		p += "/" + url.PathEscape(part)
	}
	return p
}

// readSecretLine reads one line from stdin for a secret that must never be
// a flag (it would show in ps and the shell's history).
func readSecretLine(stdin io.Reader, what string) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the %s from stdin: %w", what, err)
	}
	v := strings.TrimRight(line, "\r\n")
	if v == "" {
		return "", fmt.Errorf("stdin holds no %s", what)
	}
	return v, nil
}

func init() {
	projectCmd := &cobra.Command{Use: "project", Short: "Projects on a Slipway server: list, show, create, set the webhook secret"}
	projectCmd.PersistentFlags().String("server", "", "server URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")

	var listJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List the server's projects", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", "/api/projects", nil, &raw); err != nil {
				return err
			}
			if listJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var ps []store.Project
			if err := json.Unmarshal(raw, &ps); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tREPOSITORY\tDEFAULT BRANCH\tPIPELINE FILE\tPOLL\tCREATED")
			for _, p := range ps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%t\t%s\n", p.ID, p.Name, p.RepoURL, p.DefaultBranch, p.PipelineFile, p.Poll, p.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the API's JSON")

	var showJSON bool
	show := &cobra.Command{
		Use: "show PROJECT", Short: "Show a project", Args: needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", projectPath(args[0]), nil, &raw); err != nil {
				return err
			}
			if showJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var p store.Project
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			printProject(cmd.OutOrStdout(), p)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print the API's JSON")

	var p store.Project
	var secretStdin, createJSON bool
	create := &cobra.Command{
		Use:   "create NAME --repo URL",
		Short: "Create a project from a git repository",
		Long: "Create a project. --repo is a local path, file://, http(s):// or ssh URL, never with a password\n" +
			"in it: --credentials-ref env:SLIPWAY_GIT_<NAME> names the server's environment variable holding\n" +
			"the token. --webhook-secret-stdin reads the webhook secret (16 characters at least) from stdin.",
		Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := projectBody{Project: p}
			body.Name = args[0]
			if secretStdin {
				var err error
				if body.WebhookSecret, err = readSecretLine(cmd.InOrStdin(), "webhook secret"); err != nil {
					return fmt.Errorf("--webhook-secret-stdin: %w", err)
				}
			}
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("POST", "/api/projects", body, &raw); err != nil {
				return err
			}
			if createJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var made store.Project
			if err := json.Unmarshal(raw, &made); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "project %d %s created: %s, branch %s\n", made.ID, made.Name, made.RepoURL, made.DefaultBranch)
			return nil
		},
	}
	fl := create.Flags()
	fl.StringVar(&p.RepoURL, "repo", "", "the repository: local path, file://, http(s):// or ssh URL (required)")
	fl.StringVar(&p.DefaultBranch, "default-branch", "", "the default branch (default main)")
	fl.StringVar(&p.PipelineFile, "pipeline-file", "", "the pipeline file (default .gitlab-ci.yml)")
	fl.StringVar(&p.CredentialsRef, "credentials-ref", "", "env:SLIPWAY_GIT_<NAME>: the server's variable holding the repository's token")
	fl.BoolVar(&p.Poll, "poll", false, "fetch the repository for new commits (for forges that cannot send webhooks)")
	fl.BoolVar(&secretStdin, "webhook-secret-stdin", false, "read the webhook secret from stdin")
	fl.BoolVar(&createJSON, "json", false, "print the API's JSON of the project")
	_ = create.MarkFlagRequired("repo")

	secret := &cobra.Command{
		Use:   "webhook-secret PROJECT",
		Short: "Set a project's webhook secret, read from stdin",
		Args:  needArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := readSecretLine(cmd.InOrStdin(), "webhook secret")
			if err != nil {
				return err
			}
			if err := newAPIClient(cmd).do("PUT", projectPath(args[0], "webhook-secret"), map[string]string{"secret": s}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "project %s: webhook secret set\n", args[0])
			return nil
		},
	}
	projectCmd.AddCommand(list, show, create, secret)
	rootCmd.AddCommand(projectCmd)
}

// projectBody is what POST /api/projects takes.
type projectBody struct {
	store.Project
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func printProject(w io.Writer, p store.Project) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%d\n", p.ID)
	fmt.Fprintf(tw, "name:\t%s\n", p.Name)
	fmt.Fprintf(tw, "repository:\t%s\n", p.RepoURL)
	if p.CredentialsRef != "" {
		fmt.Fprintf(tw, "credentials:\t%s\n", p.CredentialsRef)
	}
	fmt.Fprintf(tw, "default branch:\t%s\n", p.DefaultBranch)
	fmt.Fprintf(tw, "pipeline file:\t%s\n", p.PipelineFile)
	fmt.Fprintf(tw, "poll:\t%t\n", p.Poll)
	fmt.Fprintf(tw, "created:\t%s\n", p.CreatedAt.Local().Format(time.DateTime))
	tw.Flush()
}
