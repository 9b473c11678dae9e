package build

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/registry"
)

// Credentials log in to a registry for a push. They never appear in logs,
// errors or results: String and GoString print the user only.
type Credentials struct {
	Username string
	Password string
}

// String hides the password.
func (c Credentials) String() string {
	if c.Username == "" {
		return "(no credentials)"
	}
	return fmt.Sprintf("user %s, password hidden", c.Username)
}

// GoString hides the password from %#v too.
func (c Credentials) GoString() string { return c.String() }

// header is the X-Registry-Auth value the engine expects for server:
// base64url of the JSON auth config. Without credentials it is what the
// docker CLI sends for anonymous access, base64url of {}: Docker 20.10
// refuses a push with no header at all.
func (c Credentials) header(server string) (string, error) {
	if c.Username == "" && c.Password == "" {
		return base64.URLEncoding.EncodeToString([]byte("{}")), nil
	}
	buf, err := json.Marshal(registry.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		ServerAddress: server,
	})
	if err != nil {
		return "", fmt.Errorf("encode registry credentials: %w", err)
	}
	return base64.URLEncoding.EncodeToString(buf), nil
}

// CredentialsFromEnv picks push credentials from a job's environment:
// SLIPWAY_REGISTRY_USER and SLIPWAY_REGISTRY_PASSWORD, else GitLab's
// CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, but only when every ref is on
// $CI_REGISTRY: a job token must never be sent to another registry.
func CredentialsFromEnv(getenv func(string) string, refs []string) Credentials {
	if u, p := getenv("SLIPWAY_REGISTRY_USER"), getenv("SLIPWAY_REGISTRY_PASSWORD"); u != "" || p != "" {
		return Credentials{Username: u, Password: p}
	}
	reg := getenv("CI_REGISTRY")
	if reg == "" {
		return Credentials{}
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, reg+"/") {
			return Credentials{}
		}
	}
	return Credentials{Username: getenv("CI_REGISTRY_USER"), Password: getenv("CI_REGISTRY_PASSWORD")}
}
