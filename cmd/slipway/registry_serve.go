package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/spf13/cobra"
)

// registryFlags are the flags every registry subcommand that opens the
// registry's storage shares.
type registryFlags struct {
	data, htpasswd, tokens string
}

func (f *registryFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", defaultRegistryData(), "folder the registry stores blobs and repositories in")
	cmd.Flags().StringVar(&f.htpasswd, "htpasswd", "", "htpasswd file of users (bcrypt) who may do everything")
	cmd.Flags().StringVar(&f.tokens, "tokens", "", "YAML file of per-project tokens (see docs/registry.md)")
}

// auth builds the registry's authentication (see registry.LoadAuth).
func (f *registryFlags) auth() (*registry.Auth, error) {
	return registry.LoadAuth(f.htpasswd, f.tokens)
}

func defaultRegistryData() string {
	if d := os.Getenv("SLIPWAY_DATA"); d != "" {
		return filepath.Join(d, "registry")
	}
	return filepath.Join("slipway-data", "registry")
}

func init() {
	var (
		flags         registryFlags
		addr          string
		tlsCert, tlsK string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the embedded OCI registry",
		Long: `Serve the embedded OCI registry (OCI distribution API v2: push, pull, mount,
tags, catalog, referrers, delete). It listens on loopback unless --addr says
otherwise; give --htpasswd and/or --tokens before exposing it, and
--tls-cert/--tls-key to serve HTTPS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			auth, err := flags.auth()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			reg, err := registry.New(ctx, registry.Config{DataDir: flags.data, Auth: auth, Logger: log})
			if err != nil {
				return err
			}
			defer reg.Close()
			srv := &registry.Server{Handler: reg, Addr: addr, TLSCert: tlsCert, TLSKey: tlsK}
			if err := srv.Start(ctx); err != nil {
				return err
			}
			log.Info("registry serving", "url", srv.URL(), "data", reg.DataDir(), "auth", auth != nil)
			fmt.Fprintln(cmd.OutOrStdout(), srv.URL())
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(shutdownCtx)
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&addr, "addr", registry.DefaultAddr, "address to listen on (port 0: any free port)")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "PEM certificate: serve HTTPS")
	cmd.Flags().StringVar(&tlsK, "tls-key", "", "PEM private key of --tls-cert")
	registryCmd.AddCommand(cmd)
}
