package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoServices = `
services:
  web:
    image: ${WEB_IMAGE}
    environment:
      SIGNALING: http://sigver:9000
    mem_limit: 64m
    cpus: 0.5
    volumes:
      - data:/data
    x-slipway:
      expose: true
      main: true
      port: 8080
      health: /healthz
      files:
        - path: /srv/reviewEnv.json
          json: {reviewBranch: "${CI_COMMIT_REF_NAME}"}
  signaling:
    image: registry.example/sigver@sha256:0000000000000000000000000000000000000000000000000000000000000000
    ports: ["9000:9000"]
    deploy:
      resources:
        limits: {memory: 32M, cpus: "0.25"}
    labels:
      slipway.expose: "true"
      slipway.port: "9000"
      slipway.hostname: sigver
volumes:
  data: {}
`

func TestLoadReadsServicesExtensionsAndLabels(t *testing.T) {
	vars := map[string]string{"WEB_IMAGE": "registry.example/web:review", "CI_COMMIT_REF_NAME": `Feature/"quoted"`}
	env, err := Load(context.Background(), write(t, twoServices), vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Services) != 2 {
		t.Fatalf("services: %+v", env.Services)
	}
	sig, web := env.Services[0], env.Services[1]
	if web.Name != "web" || web.Image != "registry.example/web:review" || !web.Expose || !web.Main || web.Port != 8080 || web.Health != "/healthz" || web.Hostname != "web" {
		t.Errorf("web: %+v", web)
	}
	if web.MemoryBytes != 64<<20 || web.NanoCPUs != 5e8 {
		t.Errorf("web limits: mem %d cpus %d", web.MemoryBytes, web.NanoCPUs)
	}
	if web.Env["SIGNALING"] != "http://sigver:9000" {
		t.Errorf("web env: %v", web.Env)
	}
	if len(web.Mounts) != 1 || web.Mounts[0].Volume != "data" || web.Mounts[0].Target != "/data" {
		t.Errorf("web mounts: %+v", web.Mounts)
	}
	if len(web.Files) != 1 || web.Files[0].Path != "/srv/reviewEnv.json" || string(web.Files[0].Content) != `{"reviewBranch":"Feature/\"quoted\""}`+"\n" {
		t.Errorf("web files: %+v", web.Files)
	}
	if sig.Name != "signaling" || !sig.Expose || sig.Main || sig.Port != 9000 || sig.Hostname != "sigver" {
		t.Errorf("signaling: %+v", sig)
	}
	if sig.MemoryBytes != 32<<20 || sig.NanoCPUs != 25e7 {
		t.Errorf("signaling limits: mem %d cpus %d", sig.MemoryBytes, sig.NanoCPUs)
	}
	if strings.Join(env.Volumes, ",") != "data" {
		t.Errorf("volumes: %v", env.Volumes)
	}
}

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"bad port", `
services:
  web:
    image: web@sha256:00
    x-slipway:
      expose: true
      port: http
`, "compose.yaml:7:7: services.web.x-slipway.port: want a container port 1-65535, got http"},
		{"unknown key", `
services:
  web:
    image: web
    x-slipway:
      exposed: true
`, "compose.yaml:6:7: services.web.x-slipway.exposed: unknown key"},
		{"exposed without port", `
services:
  web:
    image: web
    x-slipway: {expose: true}
`, "compose.yaml:5:17: services.web: exposed but no port"},
		{"bad label", `
services:
  web:
    image: web
    labels:
      - slipway.port=99999
`, "compose.yaml:6:9: services.web.labels.slipway.port: want a container port 1-65535, got 99999"},
		{"both ways", `
services:
  web:
    image: web
    labels: {slipway.port: "80"}
    x-slipway: {port: 80}
`, "services.web: port set both in x-slipway and as label slipway.port"},
		{"bind mount", `
services:
  web:
    image: web
    volumes: ["/etc:/host-etc"]
`, "compose.yaml:5:15: services.web.volumes[0]: bind mounts are not allowed"},
		{"no image", `
services:
  web:
    build: .
`, "compose.yaml:3:3: services.web.image: required"},
		{"two exposed, no main", `
services:
  a: {image: a, x-slipway: {expose: true, port: 80}}
  b: {image: b, x-slipway: {expose: true, port: 80}}
`, "compose.yaml:2:1: services: 2 services are exposed and none is main"},
		{"bad hostname", `
services:
  a: {image: a, x-slipway: {expose: true, port: 80, hostname: "Sig_Ver"}}
`, "compose.yaml:3:53: services.a.x-slipway.hostname: want lower-case letters"},
		{"relative file path", `
services:
  a:
    image: a
    x-slipway:
      files: [{path: "../etc/passwd", content: x}]
`, "compose.yaml:6:15: services.a.x-slipway.files[0].path: want a clean absolute path"},
		{"yaml syntax", "services:\n  a: [\n", "compose.yaml:3:1: invalid YAML: did not find expected node content"},
		{"compose schema", "services:\n  a:\n    image: a\n    mem_limit: [1]\n", "services.a.mem_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), write(t, tt.yaml), nil)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// A Compose file comes from a branch; the server that loads it must not
// read its own files for it: a secret of the host must never reach the
// environment's containers.
func TestKeysThatReadHostFilesAreRefused(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.env")
	if err := os.WriteFile(secret, []byte("HOST_SECRET=do-not-leak\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(secret), "other.yaml")
	if err := os.WriteFile(other, []byte("services:\n  base:\n    image: base\n    environment: [HOST_SECRET=do-not-leak]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, want string }{
		{"env_file", `
services:
  web:
    image: web
    env_file: ` + secret + `
`, "compose.yaml:5:5: services.web.env_file: reads files of the host running Slipway: not supported; put the variables under environment:"},
		{"env_file list", `
services:
  web:
    image: web
    env_file:
      - path: ` + secret + `
`, "compose.yaml:5:5: services.web.env_file: reads files of the host"},
		{"env_file through a merge key", `
x-base: &base
  env_file: ` + secret + `
services:
  web:
    <<: *base
    image: web
`, "compose.yaml:5:3: services.web.env_file: reads files of the host"},
		{"label_file", `
services:
  web:
    image: web
    label_file: ` + secret + `
`, "compose.yaml:5:5: services.web.label_file: reads files of the host"},
		{"extends another file", `
services:
  web:
    extends: {file: ` + other + `, service: base}
`, "compose.yaml:4:15: services.web.extends.file: reads other files of the host"},
		{"include", `
include: [` + other + `]
services:
  web:
    image: web
`, "compose.yaml:2:1: include: reads other files of the host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse(context.Background(), "compose.yaml", []byte(tt.yaml), nil)
			if err == nil {
				t.Fatalf("loaded, want an error; services %+v", env.Services)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "do-not-leak") {
				t.Errorf("the error shows the host file's content: %v", err)
			}
		})
	}

	// extends within the file reads nothing of the host and still works.
	env, err := Parse(context.Background(), "compose.yaml", []byte(`
services:
  base: {image: web, environment: [A=1]}
  web:
    extends: {service: base}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range env.Services {
		if s.Name == "web" && s.Env["A"] != "1" {
			t.Errorf("web extends base: env %v", s.Env)
		}
	}
}
