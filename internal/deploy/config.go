package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/ports"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Config is a deploy config file (docs/rollouts.md):
//
//	state_dir: .slipway-deploy     # relative to this file
//	domain: example.org            # hostnames: {env_slug}.example.org, ...
//	ports: 28000-28999             # loopback ports of the services
//	proxy:
//	  listen: 127.0.0.1:8080       # the embedded proxy of slipway deploy serve
//	  control: 127.0.0.1:8079      # where serve takes rollouts from the CLI
//	kubernetes:                    # run the targets on a cluster, not Docker
//	  kubeconfig: kube.yaml        # relative to this file; "" is kubectl's
//	  context: staging             # "" is the kubeconfig's current one
//	  namespace_prefix: shop-      # namespaces: <prefix><env_slug>
//	targets:
//	  production:
//	    compose: compose.yaml      # relative to this file
//	    vars: {LOG_LEVEL: info}    # interpolate the Compose file, injected too
//	    strategy: canary           # recreate | rolling | blue-green | canary
//	    drain: 1s
//	    blue_green: {smoke: /healthz, keep: 10m}
//	    canary: {steps: [10, 25, 50, 100], interval: 1m, success_rate: 0.99,
//	             max_p99: 500ms, min_requests: 20, max_failed_checks: 2}
type Config struct {
	// File is the config file, as given to LoadConfig.
	File     string
	StateDir string
	// Hostnames make the services' hostnames.
	Hostnames proxy.Hostnames
	Ports     ports.Range
	// Listen is the embedded proxy's address; Control the address of the
	// control endpoint of slipway deploy serve.
	Listen, Control string
	// Targets in the order of the file.
	Targets []TargetConfig
	// Kubernetes, when set, runs every target in its own namespace of a
	// cluster (internal/kubehost) rather than on the Docker engine.
	Kubernetes *KubernetesConfig
}

// KubernetesConfig is the cluster the targets run on.
type KubernetesConfig struct {
	// Kubeconfig is resolved against the config's folder; "" means
	// $KUBECONFIG or ~/.kube/config, as kubectl reads them.
	Kubeconfig string
	// Context is the kubeconfig's context; "" is its current one.
	Context string
	// NamespacePrefix starts each target's namespace ("slipway-" when "").
	NamespacePrefix string
}

// TargetConfig is one target of the config file.
type TargetConfig struct {
	Name string
	// Compose is the Compose file, resolved against the config's folder.
	Compose  string
	Vars     map[string]string
	Strategy Strategy
}

// Defaults of the config file.
const (
	DefaultStateDir = ".slipway-deploy"
	DefaultListen   = "127.0.0.1:8080"
	DefaultControl  = "127.0.0.1:8079"
	DefaultDomain   = "localhost"
)

// Path is the config file's absolute path: commands send it to serve,
// which refuses a request made from another file than its own.
func (c *Config) Path() string {
	if abs, err := filepath.Abs(c.File); err == nil {
		return abs
	}
	return c.File
}

// Target returns the target named name; the error lists the others.
func (c *Config) Target(name string) (TargetConfig, error) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.Name
	}
	return TargetConfig{}, fmt.Errorf("%s: no target %q (targets: %s)", c.File, name, strings.Join(names, ", "))
}

// Load reads the target's Compose file, interpolated with its vars.
func (t TargetConfig) Load(ctx context.Context) (Target, error) {
	env, err := compose.Load(ctx, t.Compose, t.Vars)
	if err != nil {
		return Target{}, fmt.Errorf("target %s: %w", t.Name, err)
	}
	return Target{Name: t.Name, Services: env.Services, Vars: t.Vars, Strategy: t.Strategy}, nil
}

// LoadConfig reads and checks a config file. Errors name the file, the
// line and column, and the key.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploy config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig is LoadConfig for a file already read.
func ParseConfig(path string, b []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlsyntax.InFile(path, b, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty config", path)
	}
	p := &parser{file: path}
	cfg := &Config{File: path, StateDir: DefaultStateDir, Listen: DefaultListen, Control: DefaultControl,
		Hostnames: proxy.Hostnames{Domain: DefaultDomain}, Ports: ports.DefaultRange}
	dir := filepath.Dir(path)
	var targets *yaml.Node
	p.mapping(doc.Content[0], "", func(key string, v *yaml.Node) {
		switch key {
		case "state_dir":
			cfg.StateDir = p.str(v, key)
		case "domain":
			cfg.Hostnames.Domain = p.str(v, key)
		case "ports":
			r, err := ports.ParseRange(p.str(v, key))
			p.check(v, key, err)
			cfg.Ports = r
		case "proxy":
			p.mapping(v, key, func(k string, v *yaml.Node) {
				switch k {
				case "listen":
					cfg.Listen = p.str(v, "proxy.listen")
				case "control":
					cfg.Control = p.str(v, "proxy.control")
					p.check(v, "proxy.control", CheckLoopback(cfg.Control))
				default:
					p.unknown(v, "proxy."+k, "listen, control")
				}
			})
		case "targets":
			targets = v
		case "kubernetes":
			cfg.Kubernetes = p.kubernetes(v, key, dir)
		default:
			p.unknown(v, key, "state_dir, domain, ports, proxy, kubernetes, targets")
		}
	})
	if !filepath.IsAbs(cfg.StateDir) {
		cfg.StateDir = filepath.Join(dir, cfg.StateDir)
	}
	p.check(doc.Content[0], "domain", cfg.Hostnames.Validate())
	if targets == nil {
		p.fail(doc.Content[0], "targets", errors.New("no target"))
	} else {
		p.mapping(targets, "targets", func(name string, v *yaml.Node) {
			t := p.target(v, "targets."+name)
			t.Name = name
			if t.Compose != "" && !filepath.IsAbs(t.Compose) {
				t.Compose = filepath.Join(dir, t.Compose)
			}
			cfg.Targets = append(cfg.Targets, t)
		})
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return cfg, nil
}

// parser collects the errors of a config file with their positions.
type parser struct {
	file string
	errs []error
}

// kubernetes reads the cluster the targets run on.
func (p *parser) kubernetes(n *yaml.Node, at, dir string) *KubernetesConfig {
	k := &KubernetesConfig{}
	p.mapping(n, at, func(key string, v *yaml.Node) {
		switch key {
		case "kubeconfig":
			if k.Kubeconfig = p.str(v, at+".kubeconfig"); k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
				k.Kubeconfig = filepath.Join(dir, k.Kubeconfig)
			}
		case "context":
			k.Context = p.str(v, at+".context")
		case "namespace_prefix":
			k.NamespacePrefix = p.str(v, at+".namespace_prefix")
			if pre := strings.TrimSuffix(k.NamespacePrefix, "-"); len(k.NamespacePrefix) > 30 || pre == "" || slug.Label(pre) != pre {
				p.fail(v, at+".namespace_prefix", fmt.Errorf("%q: want at most 30 lower-case letters, digits and dashes, e.g. shop-", k.NamespacePrefix))
			}
		default:
			p.unknown(v, at+"."+key, "kubeconfig, context, namespace_prefix")
		}
	})
	return k
}

func (p *parser) fail(n *yaml.Node, key string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d:%d: %s: %w", p.file, n.Line, n.Column, key, err))
}

func (p *parser) check(n *yaml.Node, key string, err error) {
	if err != nil {
		p.fail(n, key, err)
	}
}

func (p *parser) unknown(v *yaml.Node, key, known string) {
	p.fail(v, key, fmt.Errorf("unknown key (known: %s)", known))
}

// mapping calls fn with each key and value of n, a mapping. A key given
// twice is an error: YAML would silently keep one of them.
func (p *parser) mapping(n *yaml.Node, key string, fn func(string, *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		if key == "" {
			key = "config"
		}
		p.fail(n, key, errors.New("want a mapping"))
		return
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if line, ok := first[k.Value]; ok {
			p.fail(k, strings.TrimPrefix(key+"."+k.Value, "."), fmt.Errorf("duplicate key (first on line %d)", line))
			continue
		}
		first[k.Value] = k.Line
		fn(k.Value, n.Content[i+1])
	}
}

func (p *parser) str(n *yaml.Node, key string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, key, errors.New("want a string"))
		return ""
	}
	return n.Value
}

func (p *parser) integer(n *yaml.Node, key string) int {
	v, err := strconv.Atoi(p.str(n, key))
	if err != nil {
		p.fail(n, key, fmt.Errorf("want an integer, got %q", n.Value))
	}
	return v
}

func (p *parser) duration(n *yaml.Node, key string) time.Duration {
	d, err := time.ParseDuration(p.str(n, key))
	if err != nil || d < 0 {
		p.fail(n, key, fmt.Errorf("want a duration such as 30s or 5m, got %q", n.Value))
	}
	return d
}

func (p *parser) target(n *yaml.Node, at string) TargetConfig {
	var t TargetConfig
	kind := ""
	var kindNode *yaml.Node
	p.mapping(n, at, func(key string, v *yaml.Node) {
		k := at + "." + key
		switch key {
		case "compose":
			t.Compose = p.str(v, k)
		case "vars":
			t.Vars = map[string]string{}
			p.mapping(v, k, func(name string, val *yaml.Node) { t.Vars[name] = p.str(val, k+"."+name) })
		case "strategy":
			kind, kindNode = p.str(v, k), v
		case "drain":
			t.Strategy.Drain = p.duration(v, k)
		case "blue_green":
			p.mapping(v, k, func(key string, v *yaml.Node) {
				switch key {
				case "smoke":
					t.Strategy.Smoke = p.str(v, k+".smoke")
					if !strings.HasPrefix(t.Strategy.Smoke, "/") {
						p.fail(v, k+".smoke", errors.New("want a path starting with /"))
					}
				case "keep":
					t.Strategy.Keep = p.duration(v, k+".keep")
				default:
					p.unknown(v, k+"."+key, "smoke, keep")
				}
			})
		case "canary":
			p.canary(v, k, &t.Strategy)
		default:
			p.unknown(v, k, "compose, vars, strategy, drain, blue_green, canary")
		}
	})
	if t.Compose == "" {
		p.fail(n, at+".compose", errors.New("missing: the target's Compose file"))
	}
	t.Strategy.Kind = Kind(kind)
	if kindNode == nil {
		p.fail(n, at+".strategy", fmt.Errorf("missing: one of %v", Kinds))
	} else if !slices.Contains(Kinds, t.Strategy.Kind) {
		p.fail(kindNode, at+".strategy", fmt.Errorf("%q: want one of %v", kind, Kinds))
	}
	return t
}

func (p *parser) canary(n *yaml.Node, at string, s *Strategy) {
	p.mapping(n, at, func(key string, v *yaml.Node) {
		k := at + "." + key
		switch key {
		case "steps":
			if v.Kind != yaml.SequenceNode {
				p.fail(v, k, errors.New("want a list of weights, e.g. [10, 25, 50, 100]"))
				return
			}
			prev := 0
			for i, w := range v.Content {
				n := p.integer(w, fmt.Sprintf("%s[%d]", k, i))
				if n <= prev || n > 100 {
					p.fail(w, fmt.Sprintf("%s[%d]", k, i), fmt.Errorf("%d: want weights rising from 1 to 100", n))
				}
				prev = n
				s.Steps = append(s.Steps, n)
			}
		case "interval":
			s.Interval = p.duration(v, k)
		case "success_rate":
			f, err := strconv.ParseFloat(p.str(v, k), 64)
			if err != nil || f <= 0 || f > 1 {
				p.fail(v, k, fmt.Errorf("want a share above 0 and at most 1 (0.99 is 99%%), got %q", v.Value))
			}
			s.Analysis.SuccessRate = f
		case "max_p99":
			s.Analysis.MaxP99 = p.duration(v, k)
		case "min_requests":
			n := p.integer(v, k)
			if n < 1 {
				p.fail(v, k, fmt.Errorf("%d: want at least 1", n))
			}
			s.Analysis.MinRequests = uint64(max(n, 0))
		case "max_failed_checks":
			n := p.integer(v, k)
			if n < 1 {
				p.fail(v, k, fmt.Errorf("%d: want at least 1", n))
			}
			s.Analysis.MaxFailedChecks = n
		case "approval":
			b, err := strconv.ParseBool(p.str(v, k))
			p.check(v, k, err)
			s.Approval = b
		case "prometheus":
			s.Analysis.Prometheus = p.str(v, k)
		case "metrics":
			p.list(v, k, func(item *yaml.Node, at string) {
				m := p.metric(item, at)
				if err := m.Validate(at); err != nil {
					p.failAt(item, err)
				}
				s.Analysis.Metrics = append(s.Analysis.Metrics, m)
			})
		case "webhooks":
			p.list(v, k, func(item *yaml.Node, at string) {
				w := p.webhook(item, at)
				if err := w.Validate(at); err != nil {
					p.failAt(item, err)
				}
				s.Webhooks = append(s.Webhooks, w)
			})
		default:
			p.unknown(v, k, "steps, interval, success_rate, max_p99, min_requests, max_failed_checks, approval, prometheus, metrics, webhooks")
		}
	})
	if len(s.Analysis.Metrics) > 0 && s.Analysis.Prometheus == "" {
		p.fail(n, at+".prometheus", errors.New("missing: the metrics need a Prometheus to query (its base URL)"))
	}
}

// failAt records err, which names its key itself, at n's position.
func (p *parser) failAt(n *yaml.Node, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d:%d: %w", p.file, n.Line, n.Column, err))
}

// list calls fn with each item of n, a sequence, and its key (at[i]).
func (p *parser) list(n *yaml.Node, at string, fn func(*yaml.Node, string)) {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, at, errors.New("want a list"))
		return
	}
	for i, item := range n.Content {
		fn(item, fmt.Sprintf("%s[%d]", at, i))
	}
}

// metric reads a canary metric in Flagger's shape:
// {name, query | templateRef, thresholdRange: {min, max}, interval}.
func (p *parser) metric(n *yaml.Node, at string) Metric {
	var m Metric
	bound := func(v *yaml.Node, k string) *float64 {
		f, err := strconv.ParseFloat(p.str(v, k), 64)
		if err != nil {
			p.fail(v, k, fmt.Errorf("want a number, got %q", v.Value))
		}
		return &f
	}
	p.mapping(n, at, func(key string, v *yaml.Node) {
		k := at + "." + key
		switch key {
		case "name":
			m.Name = p.str(v, k)
		case "query":
			m.Query = p.str(v, k)
		case "templateRef":
			m.TemplateRef = p.str(v, k)
		case "interval":
			m.Interval = p.duration(v, k)
		case "thresholdRange":
			p.mapping(v, k, func(key string, b *yaml.Node) {
				switch key {
				case "min":
					m.Min = bound(b, k+".min")
				case "max":
					m.Max = bound(b, k+".max")
				default:
					p.unknown(b, k+"."+key, "min, max")
				}
			})
		default:
			p.unknown(v, k, "name, query, templateRef, thresholdRange, interval")
		}
	})
	return m
}

// webhook reads a canary webhook: {name, type, url, timeout, metadata}.
func (p *parser) webhook(n *yaml.Node, at string) Webhook {
	var w Webhook
	p.mapping(n, at, func(key string, v *yaml.Node) {
		k := at + "." + key
		switch key {
		case "name":
			w.Name = p.str(v, k)
		case "type":
			w.Type = WebhookType(p.str(v, k))
		case "url":
			w.URL = p.str(v, k)
		case "timeout":
			w.Timeout = p.duration(v, k)
		case "metadata":
			w.Metadata = map[string]string{}
			p.mapping(v, k, func(key string, mv *yaml.Node) { w.Metadata[key] = p.str(mv, k+"."+key) })
		default:
			p.unknown(v, k, "name, type, url, timeout, metadata")
		}
	})
	return w
}

// Reload reads the config file again, as it is now: a rollout takes the
// targets (vars, strategy, Compose file) the file says at that moment. The
// settings a running serve holds open (state folder, proxy and control
// addresses, ports, domain) cannot change under it: a change of them is
// an error that names it.
func (c *Config) Reload() (*Config, error) {
	now, err := LoadConfig(c.File)
	if err != nil {
		return nil, err
	}
	var diff []string
	for _, f := range []struct{ key, was, is string }{
		{"state_dir", c.StateDir, now.StateDir},
		{"domain", c.Hostnames.Domain, now.Hostnames.Domain},
		{"ports", fmt.Sprintf("%d-%d", c.Ports.Low, c.Ports.High), fmt.Sprintf("%d-%d", now.Ports.Low, now.Ports.High)},
		{"proxy.listen", c.Listen, now.Listen},
		{"proxy.control", c.Control, now.Control},
	} {
		if f.was != f.is {
			diff = append(diff, fmt.Sprintf("%s %q is now %q", f.key, f.was, f.is))
		}
	}
	if len(diff) > 0 {
		return nil, fmt.Errorf("%s: %s since slipway deploy serve started: restart it to apply", c.File, strings.Join(diff, ", "))
	}
	return now, nil
}
