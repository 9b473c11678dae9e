package main

import (
	"os"
	"path/filepath"

	"github.com/slipway-cd/slipway/internal/configfile"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
)

// cliConfig is the user's defaults for the CLI, from
// $XDG_CONFIG_HOME/slipway/config.yml (~/.config/slipway/config.yml); flags
// win over it.
type cliConfig struct {
	// Executor is `slipway run`'s default executor: shell, docker,
	// kubernetes or auto.
	Executor string `yaml:"executor"`
	// Kubernetes configures the kubernetes executor; with it, auto runs
	// the jobs that have an image as pods.
	Kubernetes *kubernetes.Options `yaml:"kubernetes"`
	// Server is the default --server of the client commands.
	Server string `yaml:"server"`
}

// loadCLIConfig reads the user's config file; a missing file is no error.
func loadCLIConfig() (cliConfig, string, error) {
	var c cliConfig
	dir, err := os.UserConfigDir()
	if err != nil {
		return c, "", nil
	}
	path := filepath.Join(dir, "slipway", "config.yml")
	err = configfile.Load(path, &c)
	if os.IsNotExist(err) {
		return c, path, nil
	}
	return c, path, err
}
