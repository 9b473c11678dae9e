package main

import (
	"fmt"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
)

// cliConfig is the user's defaults for the CLI, from
// $XDG_CONFIG_HOME/slipway/config.yml (~/.config/slipway/config.yml); flags
// win over it.
type cliConfig struct {
	// Executor is `slipway run`'s default executor: shell, docker or auto.
	Executor string `yaml:"executor"`
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
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return c, path, nil
	}
	if err != nil {
		return c, path, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, path, fmt.Errorf("%s: %w", path, err)
	}
	return c, path, nil
}
