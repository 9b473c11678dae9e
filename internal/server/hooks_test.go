package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhooksConfigErrorsNameTheKey: a wrong webhooks: setting stops the
// server with the key at fault.
func TestWebhooksConfigErrorsNameTheKey(t *testing.T) {
	for yaml, want := range map[string]string{
		"webhooks:\n  max_body_bytes: -1\n":                               "webhooks.max_body_bytes -1: want a positive number of bytes",
		"webhooks:\n  max_body_bytes_by_provider:\n    bitbucket: 1000\n": "webhooks.max_body_bytes_by_provider.bitbucket: unknown provider",
		"webhooks:\n  max_body_bytes_by_provider:\n    github: 0\n":       "webhooks.max_body_bytes_by_provider.github 0: want a positive number of bytes",
		"webhooks:\n  workers: -2\n":                                      "webhooks.workers -2: want at least 1",
		"webhooks:\n  max_body: 10\n":                                     `slipway.yml:2:3: webhooks: unknown key "max_body"`,
	} {
		path := filepath.Join(t.TempDir(), "slipway.yml")
		os.WriteFile(path, []byte(yaml), 0o644)
		c, err := LoadConfig(path)
		if err == nil {
			err = c.defaults()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", yaml, err, want)
		}
	}
}
