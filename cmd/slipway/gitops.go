package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/proxy/external"
)

// gitopsFlags are the flags of the reconciling commands.
type gitopsFlags struct {
	config, state, portsDir, portRange string
	// domain, with a proxy, gives exposed services hostnames.
	domain string
	// proxyListen starts an embedded proxy (run only); caddyAdmin uses an
	// external Caddy.
	proxyListen, caddyAdmin string
}

func init() {
	var f gitopsFlags
	var reconcileJSON bool
	reconcile := &cobra.Command{
		Use:   "reconcile [DEPLOYMENT...]",
		Short: "Reconcile every deployment once; exit non-zero when one is not Ready",
		Long: "Fetch each source of the config, then make this Docker host run the apps of each deployment at\n" +
			"its branch's commit: deploy what changed, put back what drifted, prune what left git (prune: true).\n" +
			"Prints what changed per app; the status is kept in STATE/status/DEPLOYMENT.json.\n\n" +
			"With DEPLOYMENT names, ask the Slipway server (--server, $SLIPWAY_SERVER) to reconcile them now\n" +
			"instead, as flux reconcile asks its controller; the server runs the pass in the background.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return requestReconcile(cmd, args)
			}
			return withGitops(cmd, f, func(ctx context.Context, c *gitops.Controller) error {
				all, err := c.ReconcileAll(ctx)
				if reconcileJSON {
					return errors.Join(printJSON(cmd.OutOrStdout(), savedStatuses(f.state, all)), err)
				}
				printGitops(cmd.OutOrStdout(), all)
				return err
			})
		},
	}
	run := &cobra.Command{
		Use:   "run",
		Short: "Reconcile continuously, at each source's and deployment's interval, until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withGitops(cmd, f, func(ctx context.Context, c *gitops.Controller) error {
				if err := c.Run(ctx); !errors.Is(err, context.Canceled) {
					return err
				}
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{reconcile, run} {
		fl := c.Flags()
		fl.StringVar(&f.config, "config", "slipway-gitops.yaml", "the GitOps config file")
		fl.StringVar(&f.state, "state", "slipway-gitops", "state folder: mirrors, checkouts, status files")
		fl.StringVar(&f.portsDir, "ports-dir", "", "folder of the host port reservations (default STATE/ports; give a server's DATA/ports to share its)")
		fl.StringVar(&f.portRange, "ports", "", "host ports of exposed services, LOW-HIGH (default 8040-8999)")
		fl.StringVar(&f.caddyAdmin, "caddy-admin", "", "route exposed services through the Caddy of this admin URL, e.g. http://127.0.0.1:2019")
		fl.StringVar(&f.domain, "domain", "", "with a proxy: exposed services answer on DEPLOYMENT-APP.DOMAIN")
	}
	reconcile.Flags().BoolVar(&reconcileJSON, "json", false, "print each deployment's status as JSON (as status --json)")
	reconcile.Flags().String("server", "", "with DEPLOYMENT: the server's URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)")
	run.Flags().StringVar(&f.proxyListen, "proxy-listen", "", "route exposed services through an embedded proxy listening on this address, e.g. 127.0.0.1:8080")
	var stateDir string
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the status of each deployment as the last pass left it",
		Long: "Print the condition (Ready, Reconciling, Stalled), the reason and the revisions of each deployment\n" +
			"and app, from the status files of the state folder; reconcile or run writes them.\n\n" +
			"With --server, ask the Slipway server that runs GitOps instead: each deployment's status and the\n" +
			"resource use of its apps' services, as `slipway gitops usage` prints it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("server") {
				return serverGitopsStatus(cmd, asJSON)
			}
			all, err := gitops.ReadStatuses(stateDir)
			if err != nil {
				return err
			}
			if len(all) == 0 {
				return fmt.Errorf("no status in %s: no deployment was reconciled with this --state", stateDir)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), all)
			}
			printGitops(cmd.OutOrStdout(), all)
			return nil
		},
	}
	status.Flags().StringVar(&stateDir, "state", "slipway-gitops", "the state folder of reconcile or run")
	status.Flags().BoolVar(&asJSON, "json", false, "print the status files as a JSON list (with --server: GET /api/gitops as it is)")
	status.Flags().String("server", "", "ask this Slipway server (its URL) rather than read --state")
	gitopsCmd.AddCommand(reconcile, run, status)
}

// withGitops builds a controller from the flags, runs fn until SIGINT or
// SIGTERM, and delivers the queued notifications.
func withGitops(cmd *cobra.Command, f gitopsFlags, fn func(context.Context, *gitops.Controller) error) error {
	cfg, err := gitops.LoadConfig(f.config)
	if err != nil {
		return err
	}
	rng, err := ports.ParseRange(f.portRange)
	if err != nil {
		return fmt.Errorf("--ports: %w", err)
	}
	if f.portsDir == "" {
		f.portsDir = filepath.Join(f.state, "ports")
	}
	alloc, err := ports.New(f.portsDir, rng)
	if err != nil {
		return err
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	router, err := gitopsRouter(cmd.Context(), f)
	if err != nil {
		return err
	}
	if closer, ok := router.(io.Closer); ok {
		defer closer.Close()
	}
	deployer, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Router: router, Hostnames: proxy.Hostnames{Domain: f.domain}, Logger: log})
	if err != nil {
		return fmt.Errorf("--domain: %w", err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: f.state, Deployer: deployer, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = fn(ctx, c)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, c.Close(cctx))
}

// gitopsRouter is the proxy the flags ask for, nil for none.
func gitopsRouter(ctx context.Context, f gitopsFlags) (proxy.Router, error) {
	switch {
	case f.proxyListen != "" && f.caddyAdmin != "":
		return nil, errors.New("--proxy-listen and --caddy-admin: give one")
	case f.domain == "" && (f.proxyListen != "" || f.caddyAdmin != ""):
		return nil, errors.New("--domain is required with a proxy")
	case f.domain != "" && f.proxyListen == "" && f.caddyAdmin == "":
		return nil, errors.New("--domain needs a proxy: --caddy-admin (or --proxy-listen with run)")
	case f.caddyAdmin != "":
		r, err := external.New(external.Config{AdminURL: f.caddyAdmin})
		if err != nil {
			return nil, fmt.Errorf("--caddy-admin: %w", err)
		}
		return r, nil
	case f.proxyListen != "":
		r, err := embedded.Start(ctx, embedded.Config{Listen: f.proxyListen, StorageDir: filepath.Join(f.state, "caddy")})
		if err != nil {
			return nil, fmt.Errorf("--proxy-listen: %w", err)
		}
		return r, nil
	}
	return nil, nil
}

// printGitops tells per app what the pass did; a Kubernetes deployment
// is a tree of its objects (printTree).
func printGitops(w io.Writer, all []gitops.DeploymentStatus) {
	for _, d := range all {
		if d.Target == gitops.TargetKubernetes {
			printTree(w, d)
			continue
		}
		fmt.Fprintf(w, "deployment %s: %s (%s) at %.12s: %s\n", d.Name, d.Condition, d.Reason, d.ObservedRevision, d.Message)
		for _, a := range d.Apps {
			fmt.Fprintf(w, "  %s: %s (%s)", a.Name, a.Condition, a.Reason)
			if a.Message != "" {
				fmt.Fprintf(w, ": %s", a.Message)
			}
			fmt.Fprintln(w)
			for _, s := range a.Services {
				switch {
				case s.Host != "":
					fmt.Fprintf(w, "    %s: http://%s (%s)\n", s.Name, s.Host, s.Addr)
				case s.Addr != "":
					fmt.Fprintf(w, "    %s: http://%s\n", s.Name, s.Addr)
				}
			}
		}
	}
}

// savedStatuses are the statuses of this pass as saved in the state folder
// (with their updated_at), so that reconcile --json prints what status
// --json reads back.
func savedStatuses(state string, all []gitops.DeploymentStatus) []gitops.DeploymentStatus {
	saved := map[string]gitops.DeploymentStatus{}
	if list, err := gitops.ReadStatuses(state); err == nil {
		for _, d := range list {
			saved[d.Name] = d
		}
	}
	out := make([]gitops.DeploymentStatus, 0, len(all))
	for _, d := range all {
		if s, ok := saved[d.Name]; ok {
			d = s
		}
		out = append(out, d)
	}
	return out
}

// requestReconcile asks the server to reconcile each deployment now.
func requestReconcile(cmd *cobra.Command, deployments []string) error {
	for _, local := range []string{"config", "state", "ports-dir", "ports", "caddy-admin", "domain", "json"} {
		if cmd.Flags().Changed(local) {
			return fmt.Errorf("--%s is for a pass of this command; with DEPLOYMENT the server reconciles with its own config", local)
		}
	}
	c := newAPIClient(cmd)
	for _, d := range deployments {
		if err := c.do("POST", "/api/gitops/"+url.PathEscape(d)+"/reconcile", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deployment %s: reconcile requested (slipway's UI /gitops or GET /api/gitops shows its result)\n", d)
	}
	return nil
}
