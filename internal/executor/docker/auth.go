package docker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

// sameRegistry says whether a key of a Docker config's "auths" (a host, or
// a URL such as Docker Hub's "https://index.docker.io/v1/") is host.
func sameRegistry(key, host string) bool {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	if host == "docker.io" {
		return key == "docker.io" || key == "index.docker.io" || key == "registry-1.docker.io"
	}
	return key == host
}

// registryAuth returns the encoded credentials for pulling ref, taken from
// authJSON, a Docker config file's content (`{"auths": {"host": {"auth":
// base64(user:pass)}}}`) as GitLab reads it from the DOCKER_AUTH_CONFIG
// variable. It returns "" when authJSON has nothing for ref's registry.
// Errors name the variable, never a secret.
func registryAuth(authJSON, ref string) (string, error) {
	if authJSON == "" {
		return "", nil
	}
	var file struct {
		Auths map[string]registry.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal([]byte(authJSON), &file); err != nil {
		return "", fmt.Errorf("DOCKER_AUTH_CONFIG: not a Docker config JSON: %w", jsonErrorWithoutInput(err))
	}
	host := registryHost(ref)
	for key, cfg := range file.Auths {
		if !sameRegistry(key, host) {
			continue
		}
		if cfg.Auth != "" && cfg.Username == "" {
			raw, err := base64.StdEncoding.DecodeString(cfg.Auth)
			if err != nil {
				return "", fmt.Errorf("DOCKER_AUTH_CONFIG: auths.%s.auth: not base64", key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return "", fmt.Errorf("DOCKER_AUTH_CONFIG: auths.%s.auth: want base64 of user:password", key)
			}
			cfg.Username, cfg.Password, cfg.Auth = user, pass, ""
		}
		cfg.ServerAddress = host
		return authconfig.Encode(cfg)
	}
	return "", nil
}

// jsonErrorWithoutInput keeps a JSON error's position but drops anything
// that could quote the (secret) input.
func jsonErrorWithoutInput(err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("syntax error at byte %d", se.Offset)
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("field %s: want %s", te.Field, te.Type)
	}
	return fmt.Errorf("invalid JSON")
}

// registryHost is the registry an image reference points to, docker.io
// when it names none (the first component is a host when it has a '.' or
// a ':' or is "localhost", as Docker decides).
func registryHost(ref string) string {
	if first, _, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}
