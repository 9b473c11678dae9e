package docker

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
)

func TestRegistryAuthPicksTheImagesRegistry(t *testing.T) {
	basic := func(up string) string { return base64.StdEncoding.EncodeToString([]byte(up)) }
	config := `{"auths": {
		"https://index.docker.io/v1/": {"auth": "` + basic("hub:hubpass") + `"},
		"registry.example.com": {"username": "u", "password": "p"},
		"127.0.0.1:5000": {"auth": "` + basic("local:pass:with:colons") + `"}
	}}`
	for _, tc := range []struct{ ref, user, password string }{
		{"postgres:15", "hub", "hubpass"},
		{"library/postgres", "hub", "hubpass"},
		{"docker.io/team/app:1", "hub", "hubpass"},
		{"registry.example.com/a/b:1", "u", "p"},
		{"127.0.0.1:5000/team/app@sha256:0123", "local", "pass:with:colons"},
		{"other.example.com/a:1", "", ""},
	} {
		enc, err := registryAuth(config, tc.ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if tc.user == "" {
			if enc != "" {
				t.Errorf("%s: credentials for a registry the config does not name", tc.ref)
			}
			continue
		}
		got, err := authconfig.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != tc.user || got.Password != tc.password {
			t.Errorf("%s: user %q password %q, want %q %q", tc.ref, got.Username, got.Password, tc.user, tc.password)
		}
	}
}

func TestRegistryAuthErrorsNeverQuoteTheSecret(t *testing.T) {
	for _, config := range []string{
		`{"auths": {"r.example.com": {"auth": "hunter2-not-base64!"}}}`,
		`{"auths": {"r.example.com": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("hunter2")) + `"}}}`,
		`{"auths": hunter2}`,
		`{"auths": {"r.example.com": "hunter2"}}`,
	} {
		_, err := registryAuth(config, "r.example.com/a:1")
		if err == nil {
			t.Errorf("%s: no error", config)
			continue
		}
		if !strings.HasPrefix(err.Error(), "DOCKER_AUTH_CONFIG: ") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q: want one naming DOCKER_AUTH_CONFIG without the secret", err)
		}
	}
}
