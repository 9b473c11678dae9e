package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/gitops"
)

// apiGitopsUsage is a GitOps deployment's usage as the server's API
// answers it.
type apiGitopsUsage struct {
	Deployment string        `json:"deployment"`
	Target     string        `json:"target"`
	Apps       []apiAppUsage `json:"apps"`
}

// apiAppUsage is one app's usage (a Kubernetes deployment's workloads).
type apiAppUsage struct {
	App       string            `json:"app"`
	SampledAt time.Time         `json:"sampled_at"`
	Services  []apiServiceUsage `json:"services"`
}

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "usage DEPLOYMENT",
		Short: "Show the health and CPU, memory and network use of a GitOps deployment's apps",
		Long: "Show each service of each app of a GitOps deployment as the Slipway server last sampled it, as\n" +
			"`slipway env usage` shows an environment's: containers on the Docker host, and on Kubernetes the\n" +
			"pods of each workload the deployment applied (summed per workload).\n" +
			"--json prints the API's answer as it is, with each service's last hour of samples.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := newAPIClient(cmd).do("GET", "/api/gitops/"+url.PathEscape(args[0])+"/usage", nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiGitopsUsage
			if err := json.Unmarshal(raw, &u); err != nil {
				return err
			}
			return printGitopsUsage(cmd.OutOrStdout(), u)
		},
	}
	cmd.Flags().String("server", "", "the server's URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON, with each service's history")
	gitopsCmd.AddCommand(cmd)
}

func printGitopsUsage(w io.Writer, u apiGitopsUsage) error {
	fmt.Fprintf(w, "deployment %s (%s)\n", u.Deployment, u.Target)
	return printAppsUsage(w, u.Apps)
}

// serverGitopsStatus is `gitops status --server`: each deployment's status
// as the server's last pass left it, then its apps' resource use.
func serverGitopsStatus(cmd *cobra.Command, asJSON bool) error {
	var raw json.RawMessage
	if err := newAPIClient(cmd).do("GET", "/api/gitops", nil, &raw); err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var v struct {
		Deployments []struct {
			gitops.DeploymentStatus
			Usage []apiAppUsage `json:"usage"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	for _, d := range v.Deployments {
		printGitops(w, []gitops.DeploymentStatus{d.DeploymentStatus})
		if err := printAppsUsage(w, d.Usage); err != nil {
			return err
		}
	}
	return nil
}

func printAppsUsage(w io.Writer, apps []apiAppUsage) error {
	if len(apps) == 0 {
		_, err := fmt.Fprintln(w, "no app runs, or none was sampled yet")
		return err
	}
	for _, a := range apps {
		if a.App != "" {
			fmt.Fprintf(w, "app %s", a.App)
		} else {
			fmt.Fprint(w, "workloads")
		}
		if !a.SampledAt.IsZero() {
			fmt.Fprintf(w, ", sampled %s", a.SampledAt.Local().Format(time.DateTime))
		}
		fmt.Fprintln(w)
		if err := printServiceUsage(w, a.Services); err != nil {
			return err
		}
	}
	return nil
}
