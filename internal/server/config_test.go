package server

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/proxy"
)

// docBlocks are the ```yaml blocks of a doc that start with key.
func docBlocks(t *testing.T, doc, key string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		if strings.HasPrefix(m[1], key) || strings.Contains(m[1], "\n"+key) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/%s has no yaml block with %s", doc, key)
	}
	return out
}

func loadConfigText(t *testing.T, text string) (Config, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "slipway.yml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadConfig(file)
}

// The configurations docs/server.md and docs/proxy.md show are accepted
// as written.
func TestConfigOfTheDocsLoads(t *testing.T) {
	blocks := append(docBlocks(t, "server.md", "listen:"), docBlocks(t, "proxy.md", "proxy:")...)
	for _, block := range blocks {
		if _, err := loadConfigText(t, block); err != nil {
			t.Errorf("%v\nin:\n%s", err, block)
		}
	}
	cfg, err := loadConfigText(t, `proxy:
  domain: review.example.com
  hostnames: {main: "app-{env_slug}.{domain}", service: "{service}-{env_slug}.{domain}"}
  embedded: {listen: 127.0.0.1:9081, grace_period: 5s, stream_close_delay: 1m, log_level: INFO, storage_dir: /tmp/caddy}
  external: {admin_url: "http://127.0.0.1:2019", server: srv0, listen: ":80", stream_close_delay: 2m}
`)
	p := cfg.Proxy
	if err != nil || p.Domain != "review.example.com" || p.Hostnames.Service != "{service}-{env_slug}.{domain}" ||
		p.Embedded.Listen != "127.0.0.1:9081" || p.Embedded.LogLevel != "INFO" || p.External.Server != "srv0" {
		t.Errorf("proxy: %+v (%v)", p, err)
	}
	h, err := p.hostnames()
	if host, _ := h.Host(proxy.Names{Env: "review-x"}, "web", true); err != nil || host != "app-review-x.review.example.com" {
		t.Errorf("main hostname %q (%v)", host, err)
	}
}

// Every problem of the file is reported, each at its file:line:col.
func TestConfigErrorsHavePositions(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"prxy:\n  domain: x.test\n", `:1:1: unknown key "prxy" (did you mean proxy?)`},
		{"proxy:\n  domian: x.test\n", `:2:3: proxy: unknown key "domian" (did you mean proxy.domain?)`},
		{"proxy:\n  embedded:\n    listne: 127.0.0.1:1\n", `:3:5: proxy.embedded: unknown key "listne" (did you mean proxy.embedded.listen?)`},
		{"environments:\n  proxy: {listen: 127.0.0.1:1}\n", `:2:3: environments: unknown key "proxy"`},
		{"environments:\n  auto_stop_tick: soon\n", `:2:19: environments.auto_stop_tick: want a duration such as 30s, 5m or 1h, got "soon"`},
		{"concurrency: many\n", `:1:14: concurrency: want a whole number, got "many"`},
		{"registry: yes\n", `:1:11: registry: want a mapping of keys, got "yes"`},
		{"listen: a\nlisten: b\n", `:2:1: listen: given twice`},
		{"notify:\n  - {type: webhok, url_env: HOOK}\n", `:2:12: notify[0].type: unknown type "webhok"`},
		{"listen: [\n", `:2:1: invalid YAML: did not find expected node content`},
	} {
		_, err := loadConfigText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), "slipway.yml"+c.want) {
			t.Errorf("%q: error %v, want slipway.yml%s", c.text, err, c.want)
		}
	}
	// A *_env secret that is not set, once the file decoded, at its place too.
	t.Setenv("SLIPWAY_TEST_UNSET_SECRET", "")
	_, err := loadConfigText(t, "notify:\n  - type: webhook\n    url: http://127.0.0.1:1/hook\n    secret_env: SLIPWAY_TEST_UNSET_SECRET\n")
	if want := "slipway.yml:4:17: notify[0].secret_env: environment variable SLIPWAY_TEST_UNSET_SECRET is not set"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("unset secret_env: error %v, want ...%s", err, want)
	}
	// A hostname template or domain the proxy refuses, at its place too.
	for _, c := range []struct{ text, want string }{
		{"proxy:\n  hostnames: {main: \"{branch}.{domain}\"}\n", `slipway.yml:2:21: proxy.hostnames.main "{branch}.{domain}": unknown placeholder {branch} at column 1`},
		{"proxy:\n  hostnames:\n    service: \"{env_slug}.{domain}\"\n", `slipway.yml:3:14: proxy.hostnames.service "{env_slug}.{domain}": needs {service}`},
		{"proxy:\n  domain: Bad_Domain\n", `slipway.yml:2:11: proxy.domain: `},
	} {
		_, err := loadConfigText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want ...%s", c.text, err, c.want)
		}
	}
	// Every bad template, each at its place.
	_, err = loadConfigText(t, "proxy:\n  hostnames:\n    main: \"{branch}.{domain}\"\n    service: \"{env_slug}.{domain}\"\n")
	if err == nil || !strings.Contains(err.Error(), "slipway.yml:3:11: proxy.hostnames.main ") ||
		!strings.Contains(err.Error(), "slipway.yml:4:14: proxy.hostnames.service ") || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two bad templates: error %v, want both, one line each with its file:line:col", err)
	}
	// All of them at once, not only the first.
	_, err = loadConfigText(t, "lisen: x\nproxy:\n  domian: y\n")
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems: %v", err)
	}
}
