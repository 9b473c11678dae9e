package build

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

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
// base64url of the JSON auth config. Empty without credentials.
func (c Credentials) header(server string) (string, error) {
	if c.Username == "" && c.Password == "" {
		return "", nil
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
