package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/gitops/kube"
	"github.com/slipway-cd/slipway/internal/kubehost"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
)

func init() {
	deployCmd := &cobra.Command{
		Use:   "deploy",
		Short: "Roll out targets with recreate, rolling, blue-green or canary; promote, roll back",
		Long: `Roll the targets of a deploy config out to this Docker host, or to a cluster
with a kubernetes: section (docs/rollouts.md).
"slipway deploy serve" runs the embedded proxy, reads the per-version metrics
of canaries and keeps the targets as their state says; run, promote and
rollback ask it to act, and remove takes a target off the host. serve reads
the config file again at each request. status and history read the state
on their own.`,
	}
	var configPath string
	deployCmd.PersistentFlags().StringVar(&configPath, "config", "deploy.yaml", "the deploy config file")
	load := func() (*deploy.Config, error) { return deploy.LoadConfig(configPath) }

	var every time.Duration
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded proxy and the control endpoint; reconcile the targets until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return fmt.Errorf("--reconcile-every %s: want a positive duration such as 10s", every)
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveDeploy(ctx, cfg, every, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
		},
	}
	serve.Flags().DurationVar(&every, "reconcile-every", 10*time.Second, "how often each target is brought back to its state (blue generations past keep go)")

	var target, strategy, from, to string
	run := controlCmd(load, "run", "Roll a target out with its strategy (or --strategy)", "/rollouts",
		func() deploy.ControlRequest {
			return deploy.ControlRequest{Target: target, Strategy: deploy.Kind(strategy)}
		})
	run.Flags().StringVar(&target, "target", "", "the target to roll out (required)")
	run.Flags().StringVar(&strategy, "strategy", "", "recreate, rolling, blue-green or canary instead of the target's")
	_ = run.MarkFlagRequired("target")

	promote := controlCmd(load, "promote", "Roll out to --to exactly the images (by digest) that run in --from", "/promotions",
		func() deploy.ControlRequest { return deploy.ControlRequest{From: from, To: to} })
	promote.Flags().StringVar(&from, "from", "", "the target whose running images are promoted (required)")
	promote.Flags().StringVar(&to, "to", "", "the target to roll them out to, with its strategy (required)")
	_ = promote.MarkFlagRequired("from")
	_ = promote.MarkFlagRequired("to")

	rollback := controlCmd(load, "rollback", "Put a target's previous version back (at once while a blue-green keeps it)", "/rollbacks",
		func() deploy.ControlRequest { return deploy.ControlRequest{Target: target} })
	rollback.Flags().StringVar(&target, "target", "", "the target to roll back (required)")
	_ = rollback.MarkFlagRequired("target")

	var statusJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each target's generations, images and rollout state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			r, err := readOnlyRunner(cfg)
			if err != nil {
				return err
			}
			all := []targetStatus{}
			for _, tc := range cfg.Targets {
				st, err := r.Status(cmd.Context(), deploy.Target{Name: tc.Name}.Env())
				if err != nil {
					return err
				}
				all = append(all, newTargetStatus(tc.Name, st))
			}
			if statusJSON {
				return printJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tGENERATION\tROLE\tSERVICE\tIMAGE\tSTATE")
			for _, t := range all {
				if len(t.Generations) == 0 {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tnot deployed\n", t.Target)
				}
				for _, g := range t.Generations {
					for _, s := range g.Services {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Target, g.Number, g.Role, s.Name, s.Image, s.State)
					}
				}
			}
			return tw.Flush()
		},
	}
	status.Flags().BoolVar(&statusJSON, "json", false, "print each target's state and generations as JSON")

	var jsonOut bool
	history := &cobra.Command{
		Use:   "history",
		Short: "List a target's rollouts: strategy, digests, outcome and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if _, err := cfg.Target(target); err != nil {
				return err
			}
			r, err := readOnlyRunner(cfg)
			if err != nil {
				return err
			}
			hist, err := r.History(deploy.Target{Name: target}.Env())
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(hist)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FINISHED\tSTRATEGY\tGENERATION\tOUTCOME\tIMAGES\tREASON")
			for _, h := range hist {
				images := make([]string, 0, len(h.Images))
				for svc, img := range h.Images {
					images = append(images, svc+"="+img)
				}
				reason := h.Reason
				if h.PromotedFrom != "" {
					reason = strings.TrimSpace("promoted from " + h.PromotedFrom + " " + reason)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", h.Finished.Format(time.RFC3339), h.Strategy, h.Generation, h.Outcome, strings.Join(images, " "), reason)
			}
			return tw.Flush()
		},
	}
	history.Flags().StringVar(&target, "target", "", "the target (required)")
	history.Flags().BoolVar(&jsonOut, "json", false, "print the history as JSON")
	_ = history.MarkFlagRequired("target")

	remove := &cobra.Command{
		Use:   "remove TARGET",
		Short: "Remove a target from this host: its routes, containers, network, volumes and state",
		Long: `Ask slipway deploy serve to remove the target's routes, then every
generation's containers, its network, volumes and port reservations, and
its state file. Its history stays. A target already taken out of the config
file is removed too while its state file is there.`,
		Args: needArgs("TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if _, err := deploy.Control(cmd.Context(), cfg.Control, "/removals", deploy.ControlRequest{Target: args[0], Config: cfg.Path()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: removed\n", args[0])
			return nil
		},
	}

	gates := []*cobra.Command{
		gateCmd(load, deploy.Pause, "Hold the target's canary at its weight (the next one before its first step) until resumed"),
		gateCmd(load, deploy.Resume, "Let the target's paused canary take its next step"),
		gateCmd(load, deploy.Approve, "Approve the promotion of the target's canary that waits for approval (canary.approval: true)"),
	}
	deployCmd.AddCommand(serve, run, promote, rollback, remove, status, history)
	deployCmd.AddCommand(gates...)
	rootCmd.AddCommand(deployCmd)
}

// gateCmd is deploy pause|resume|approve TARGET: it asks slipway deploy
// serve, which runs the canaries, to set the target's gate.
func gateCmd(load func() (*deploy.Config, error), action deploy.GateAction, short string) *cobra.Command {
	return &cobra.Command{
		Use:   string(action) + " TARGET",
		Short: short,
		Args:  needArgs("TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if _, err := cfg.Target(args[0]); err != nil {
				return err
			}
			req := deploy.ControlRequest{Target: args[0], Gate: action, Config: cfg.Path()}
			if _, err := deploy.Control(cmd.Context(), cfg.Control, "/gates", req); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], action)
			return nil
		},
	}
}

// controlCmd is a command that asks slipway deploy serve for a rollout
// at path, checking first that the targets it names are in the config.
func controlCmd(load func() (*deploy.Config, error), use, short, path string, request func() deploy.ControlRequest) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			req := request()
			req.Config = cfg.Path()
			for _, name := range []string{req.Target, req.From, req.To} {
				if _, err := cfg.Target(name); name != "" && err != nil {
					return err
				}
			}
			ro, err := deploy.Control(cmd.Context(), cfg.Control, path, req)
			return printRollout(cmd.OutOrStdout(), ro, err)
		},
	}
}

// targetStatus is one target in deploy status --json.
type targetStatus struct {
	Target      string             `json:"target"`
	State       deploy.State       `json:"state"`
	Generations []generationStatus `json:"generations"`
}

type generationStatus struct {
	Number   int             `json:"number"`
	Role     string          `json:"role"`
	Services []serviceStatus `json:"services"`
}

type serviceStatus struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	State string `json:"state"`
	Addr  string `json:"addr,omitempty"`
	Host  string `json:"host,omitempty"`
}

func newTargetStatus(name string, st deploy.Status) targetStatus {
	t := targetStatus{Target: name, State: st.State, Generations: []generationStatus{}}
	for _, g := range st.Generations {
		gs := generationStatus{Number: g.Number, Role: role(st.State, g.Number), Services: []serviceStatus{}}
		for _, s := range g.Services {
			gs.Services = append(gs.Services, serviceStatus{Name: s.Name, Image: s.Image, State: s.State, Addr: s.Addr(), Host: s.Host})
		}
		t.Generations = append(t.Generations, gs)
	}
	return t
}

// role says what a generation is to its target.
func role(st deploy.State, gen int) string {
	switch gen {
	case st.Stable:
		return "stable"
	case st.Canary:
		if st.Waiting != "" {
			return fmt.Sprintf("canary %d%%, waiting for %s", st.CanaryWeight, st.Waiting)
		}
		return fmt.Sprintf("canary %d%%", st.CanaryWeight)
	case st.Previous:
		return "kept until " + st.PreviousUntil.Format(time.RFC3339)
	}
	return "leftover"
}

// printRollout says how a rollout ended; its error is the command's.
func printRollout(out io.Writer, ro *deploy.Rollout, err error) error {
	if ro != nil {
		fmt.Fprintf(out, "%s: %s generation %d %s", ro.Env, ro.Strategy, ro.Generation, ro.Outcome)
		if ro.PromotedFrom != "" {
			fmt.Fprintf(out, " (promoted from %s)", ro.PromotedFrom)
		}
		fmt.Fprintln(out)
		for svc, img := range ro.Images {
			fmt.Fprintf(out, "  %s: %s\n", svc, img)
		}
		for _, c := range ro.Checks {
			verdict := "passed"
			if !c.Passed {
				verdict = "failed: " + c.Reason
			}
			fmt.Fprintf(out, "  canary %d%%: %d requests, success %.2f%%, p99 %s: %s\n", c.Weight, c.Requests, 100*c.SuccessRate, c.Latency(), verdict)
		}
	}
	return err
}

// readOnlyRunner reads state, history and the host, and routes nothing.
func readOnlyRunner(cfg *deploy.Config) (*deploy.Runner, error) {
	// A CLI run: its client goes when the process does.
	quiet := slog.New(slog.DiscardHandler)
	host, _, err := deployHost(cfg, nil, quiet)
	if err != nil {
		return nil, err
	}
	return deploy.New(deploy.Options{Host: host, StateDir: cfg.StateDir, Logger: quiet})
}

// deployHost is where the config's targets run: the cluster of its
// kubernetes section, else the Docker engine of the environment.
func deployHost(cfg *deploy.Config, router proxy.Router, log *slog.Logger) (deploy.Host, func(), error) {
	if cfg.Kubernetes != nil {
		h, err := kubeHost(cfg, router, log)
		return h, func() {}, err
	}
	d, cli, err := dockerHost(cfg, router)
	if err != nil {
		return nil, nil, err
	}
	return d, func() { cli.Close() }, nil
}

// kubeHost runs the targets on the cluster of the config's kubernetes
// section, each in its own namespace. Its lines go to log: slog's default
// writes through the log package, which the embedded proxy sends to its
// own logger, every level as info.
func kubeHost(cfg *deploy.Config, router proxy.Router, log *slog.Logger) (*kubehost.Host, error) {
	k := cfg.Kubernetes
	c, err := kube.Connect(kube.Target{Kubeconfig: k.Kubeconfig, Context: k.Context})
	if err != nil {
		return nil, fmt.Errorf("%s: kubernetes: %w", cfg.File, err)
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: kubernetes: %w", cfg.File, err)
	}
	return kubehost.New(kubehost.Options{Client: cs, NamespacePrefix: k.NamespacePrefix, Router: router, Hostnames: cfg.Hostnames, Logger: log})
}

// dockerHost is the deployer of the Docker engine of the environment
// (DOCKER_HOST), with its port reservations in the state folder.
func dockerHost(cfg *deploy.Config, router proxy.Router) (*dockerhost.Deployer, *client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("docker: %w", err)
	}
	alloc, err := ports.New(filepath.Join(cfg.StateDir, "ports"), cfg.Ports)
	if err != nil {
		return nil, nil, err
	}
	d, err := dockerhost.New(dockerhost.Options{Client: cli, Ports: alloc, Router: router, Hostnames: cfg.Hostnames})
	return d, cli, err
}

// serveDeploy runs the embedded proxy and the control endpoint, and
// reconciles every target at start and then every interval.
func serveDeploy(ctx context.Context, cfg *deploy.Config, every time.Duration, log *slog.Logger) error {
	proxyRouter, err := embedded.Start(ctx, embedded.Config{Listen: cfg.Listen, StorageDir: filepath.Join(cfg.StateDir, "caddy")})
	if err != nil {
		return err
	}
	defer proxyRouter.Close()
	host, closeHost, err := deployHost(cfg, proxyRouter, log)
	if err != nil {
		return err
	}
	defer closeHost()
	if kh, ok := host.(*kubehost.Host); ok {
		// The routes follow the pods' addresses as they change.
		go func() {
			if err := kh.Follow(ctx); err != nil {
				log.Error("deploy serve: following the pods' addresses", "err", err)
			}
		}()
	}
	runner, err := deploy.New(deploy.Options{Host: host, Router: proxyRouter, Metrics: proxyRouter, StateDir: cfg.StateDir, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Control)
	if err != nil {
		return fmt.Errorf("proxy.control: %w", err)
	}
	srv := &http.Server{Handler: deploy.ControlHandler(runner, cfg), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("deploy serve: control endpoint", "err", err)
		}
	}()
	defer srv.Close()
	log.Info("deploy serve: ready", "proxy", cfg.Listen, "control", cfg.Control, "targets", len(cfg.Targets))
	targets := cfg.Targets
	for {
		// The file as it is now: a target added since start is kept too.
		if now, err := cfg.Reload(); err != nil {
			log.Warn("deploy serve: config not read again; reconciling the targets it had", "err", err)
		} else {
			targets = now.Targets
		}
		for _, t := range targets {
			if _, err := runner.Reconcile(ctx, deploy.Target{Name: t.Name}.Env()); err != nil && ctx.Err() == nil {
				log.Warn("deploy serve: reconcile", "target", t.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			log.Info("deploy serve: stopping")
			return nil
		case <-time.After(every):
		}
	}
}
