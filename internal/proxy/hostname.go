package proxy

import (
	"errors"
	"fmt"
	"strings"
)

// Default hostname templates: the seed's review-<branch>.<domain> for the
// main service and review-<branch>-sigver.<domain> for the others.
const (
	DefaultMainTemplate    = "{env_slug}.{domain}"
	DefaultServiceTemplate = "{env_slug}-{service}.{domain}"
)

// Hostnames makes the hostnames of environment services from templates.
// The placeholders are {env_slug}, {service} and {domain}; only slugs and
// the operator's domain ever fill them.
type Hostnames struct {
	// Domain is the operator's domain, e.g. review.example.com (config key
	// proxy.domain).
	Domain string `yaml:"domain"`
	// Main is the template for the main service of an environment (config
	// key proxy.hostnames.main); DefaultMainTemplate when empty.
	Main string `yaml:"main"`
	// Service is the template for every other service (config key
	// proxy.hostnames.service); DefaultServiceTemplate when empty.
	Service string `yaml:"service"`
}

// Validate checks the domain and both templates, naming the config key at
// fault. A template must hold {env_slug}, and the service template
// {service}, or two environments or services would share a hostname.
func (h Hostnames) Validate() error {
	if err := CheckHostname(h.Domain); err != nil {
		return fmt.Errorf("proxy.domain: %w", err)
	}
	if err := checkTemplate("proxy.hostnames.main", h.main(), false); err != nil {
		return err
	}
	return checkTemplate("proxy.hostnames.service", h.service(), true)
}

// Host returns the hostname of service in the environment envSlug; main
// selects the main template. Both names must be slugs.
func (h Hostnames) Host(envSlug, service string, main bool) (string, error) {
	if err := CheckSlug("environment slug", envSlug); err != nil {
		return "", err
	}
	if err := CheckSlug("service", service); err != nil {
		return "", err
	}
	key, tmpl := "proxy.hostnames.service", h.service()
	if main {
		key, tmpl = "proxy.hostnames.main", h.main()
	}
	if err := checkTemplate(key, tmpl, !main); err != nil {
		return "", err
	}
	host := strings.NewReplacer("{env_slug}", envSlug, "{service}", service, "{domain}", h.Domain).Replace(tmpl)
	if err := CheckHostname(host); err != nil {
		return "", fmt.Errorf("%s %q for environment %s, service %s: %w", key, tmpl, envSlug, service, err)
	}
	return host, nil
}

func (h Hostnames) main() string    { return orDefault(h.Main, DefaultMainTemplate) }
func (h Hostnames) service() string { return orDefault(h.Service, DefaultServiceTemplate) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func checkTemplate(key, tmpl string, needService bool) error {
	rest := tmpl
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return fmt.Errorf("%s %q: unclosed { at column %d", key, tmpl, len(tmpl)-len(rest)+open+1)
		}
		switch name := rest[open : open+end+1]; name {
		case "{env_slug}", "{service}", "{domain}":
		default:
			return fmt.Errorf("%s %q: unknown placeholder %s at column %d (want {env_slug}, {service}, {domain})",
				key, tmpl, name, len(tmpl)-len(rest)+open+1)
		}
		rest = rest[open+end+1:]
	}
	if !strings.Contains(tmpl, "{env_slug}") {
		return fmt.Errorf("%s %q: needs {env_slug}, or every environment gets the same hostname", key, tmpl)
	}
	if needService && !strings.Contains(tmpl, "{service}") {
		return fmt.Errorf("%s %q: needs {service}, or every service gets the same hostname", key, tmpl)
	}
	return nil
}

// CheckHostname reports whether s is a DNS name Slipway routes: labels of
// 1 to 63 lower-case letters, digits and inner dashes, 253 bytes at most.
func CheckHostname(s string) error {
	if s == "" {
		return errors.New("empty hostname")
	}
	if len(s) > 253 {
		return fmt.Errorf("hostname %q: %d bytes, more than 253", s, len(s))
	}
	for i, label := range strings.Split(s, ".") {
		switch {
		case label == "":
			return fmt.Errorf("hostname %q: empty label %d", s, i+1)
		case len(label) > 63:
			return fmt.Errorf("hostname %q: label %q has %d bytes, more than 63", s, label, len(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("hostname %q: label %q starts or ends with a dash", s, label)
		}
		for _, c := range []byte(label) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("hostname %q: label %q holds %q (want a-z, 0-9, -)", s, label, c)
			}
		}
	}
	return nil
}
