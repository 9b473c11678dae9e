package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/server"
)

func init() {
	var configFile string
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Slipway server: API, web UI, webhooks, schedules, metrics",
		Long: "Run the Slipway server. With no configuration it keeps everything in ./slipway-data\n" +
			"(SQLite) and listens on 127.0.0.1:8080. Flags override the --config file.",
		RunE: func(cmd *cobra.Command, args []string) error {
			base := server.Config{}
			if configFile != "" {
				var err error
				if base, err = server.LoadConfig(configFile); err != nil {
					return err
				}
			}
			fl := cmd.Flags()
			if fl.Changed("listen") {
				base.Listen = cfg.Listen
			}
			if fl.Changed("data") {
				base.DataDir = cfg.DataDir
			}
			if fl.Changed("database") {
				base.Database = cfg.Database
			}
			if fl.Changed("executor") {
				base.Executor = cfg.Executor
			}
			if fl.Changed("base-url") {
				base.BaseURL = cfg.BaseURL
			}
			if fl.Changed("schedule-tick") {
				base.ScheduleTick = cfg.ScheduleTick
			}
			if fl.Changed("poll-interval") {
				base.PollInterval = cfg.PollInterval
			}
			if fl.Changed("server-name") {
				base.ServerName = cfg.ServerName
			}
			base.MakeAPIToken = true
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv, err := server.New(ctx, base, logger)
			if err != nil {
				return err
			}
			if err := srv.Start(ctx); err != nil {
				srv.Close(context.Background())
				return err
			}
			showMadeToken(cmd.ErrOrStderr(), srv)
			<-ctx.Done()
			logger.Info("shutting down")
			closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return srv.Close(closeCtx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configFile, "config", "", "YAML configuration `file`")
	fl.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP address")
	fl.StringVar(&cfg.DataDir, "data", "slipway-data", "data folder")
	fl.StringVar(&cfg.Database, "database", "", "sqlite:///path or postgres://... (default: SQLite in the data folder)")
	fl.StringVar(&cfg.Executor, "executor", "shell", "executor: shell, docker, kubernetes or auto")
	fl.StringVar(&cfg.BaseURL, "base-url", "", "public URL of the server, for links (default http://LISTEN)")
	fl.DurationVar(&cfg.ScheduleTick, "schedule-tick", 5*time.Second, "how often due schedules are looked for")
	fl.DurationVar(&cfg.PollInterval, "poll-interval", time.Minute, "how often polled projects are fetched")
	fl.StringVar(&cfg.ServerName, "server-name", "", "name of this server among those sharing a database, the same across restarts (default HOSTNAME:DATA)")
	rootCmd.AddCommand(cmd)
}

// showMadeToken prints the API token the server made at its first start,
// this once and not through the log: the UI's Sign in and the CLI need it.
func showMadeToken(w io.Writer, srv *server.Server) {
	if srv.MadeAPIToken == "" {
		return
	}
	fmt.Fprintf(w, "\nslipway: no api_token_env is set, so this server made its API token; it is shown this once:\n\n"+
		"    %s\n\n"+
		"Sign in to %s with it, and export SLIPWAY_TOKEN=<it> for the slipway CLI.\n"+
		"The database keeps it; to choose your own, set api_token_env (docs/security.md).\n\n", srv.MadeAPIToken, srv.URL())
}
