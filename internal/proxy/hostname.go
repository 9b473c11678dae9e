package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/slipway-cd/slipway/internal/slug"
)

// Default hostname templates. An environment in GitLab's review/ folder
// (review/$CI_COMMIT_REF_SLUG) gets the seed's names from the branch it
// deploys: review-<branch>.<domain> for the main service and
// review-<branch>-sigver.<domain> for the others. Any other environment
// (staging, production, a GitOps app) is named by its slug, since several
// of them may deploy one branch.
const (
	DefaultMainTemplate          = "{env_slug}.{domain}"
	DefaultServiceTemplate       = "{env_slug}-{service}.{domain}"
	DefaultReviewMainTemplate    = "review-{ref_slug}.{domain}"
	DefaultReviewServiceTemplate = "review-{ref_slug}-{service}.{domain}"
)

// ReviewFolder is the folder of environment names whose default hostnames
// come from the branch (DefaultReviewMainTemplate).
const ReviewFolder = "review/"

// Hostnames makes the hostnames of environment services from templates.
// The placeholders are {env_slug}, {ref_slug}, {service} and {domain};
// only slugs and the operator's domain ever fill them.
type Hostnames struct {
	// Domain is the operator's domain, e.g. review.example.com (config key
	// proxy.domain).
	Domain string `yaml:"domain"`
	// Main is the template for the main service of an environment (config
	// key proxy.hostnames.main); the defaults above when empty.
	Main string `yaml:"main"`
	// Service is the template for every other service (config key
	// proxy.hostnames.service); the defaults above when empty.
	Service string `yaml:"service"`
}

// Names fill the placeholders of a template for one environment.
type Names struct {
	// EnvName is the environment's name (review/feature-x): it picks the
	// default templates, and never reaches a hostname.
	EnvName string
	// Env is {env_slug}, the environment's slug (CI_ENVIRONMENT_SLUG).
	Env string
	// Ref is {ref_slug}, slug.Ref of the deployed branch or tag
	// (CI_COMMIT_REF_SLUG); "" when the deploy has none (GitOps).
	Ref string
}

// review tells whether the review defaults apply to n.
func (n Names) review() bool {
	return strings.HasPrefix(n.EnvName, ReviewFolder) && n.Ref != ""
}

// Validate checks the domain and both templates, naming the config key at
// fault. A template must hold {env_slug} or {ref_slug}, and the service
// template {service}, or two environments or services would share a
// hostname. Every problem is reported, one line each (errors.Join).
func (h Hostnames) Validate() error {
	var errs []error
	if err := CheckHostname(h.Domain); err != nil {
		errs = append(errs, fmt.Errorf("proxy.domain: %w", err))
	}
	errs = append(errs, checkTemplate("proxy.hostnames.main", h.template(true, Names{}), false),
		checkTemplate("proxy.hostnames.service", h.template(false, Names{}), true))
	return errors.Join(errs...)
}

// Host returns the hostname of service in the environment n; main selects
// the main template. Every name must be a slug: a branch name reaches a
// hostname only as slug.Ref made it.
func (h Hostnames) Host(n Names, service string, main bool) (string, error) {
	if err := CheckSlug("environment slug", n.Env); err != nil {
		return "", err
	}
	if n.Ref != "" && slug.Ref(n.Ref) != n.Ref {
		return "", fmt.Errorf("ref slug %q: %w", n.Ref, ErrNotSlug)
	}
	if err := CheckSlug("service", service); err != nil {
		return "", err
	}
	key, tmpl := "proxy.hostnames.service", h.template(false, n)
	if main {
		key = "proxy.hostnames.main"
		tmpl = h.template(true, n)
	}
	if err := checkTemplate(key, tmpl, !main); err != nil {
		return "", err
	}
	if n.Ref == "" && strings.Contains(tmpl, "{ref_slug}") {
		return "", fmt.Errorf("%s %q: environment %s was deployed from no branch or tag, so {ref_slug} is empty", key, tmpl, n.Env)
	}
	host := strings.NewReplacer("{env_slug}", n.Env, "{ref_slug}", n.Ref, "{service}", service, "{domain}", h.Domain).Replace(tmpl)
	if err := CheckHostname(host); err != nil {
		return "", fmt.Errorf("%s %q for environment %s, service %s: %w", key, tmpl, n.Env, service, err)
	}
	return host, nil
}

// template is the template of the main service or of the others for n:
// the configured one, else the default for n's folder.
func (h Hostnames) template(main bool, n Names) string {
	switch {
	case main && h.Main != "":
		return h.Main
	case !main && h.Service != "":
		return h.Service
	case main && n.review():
		return DefaultReviewMainTemplate
	case main:
		return DefaultMainTemplate
	case n.review():
		return DefaultReviewServiceTemplate
	}
	return DefaultServiceTemplate
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
		case "{env_slug}", "{ref_slug}", "{service}", "{domain}":
		default:
			return fmt.Errorf("%s %q: unknown placeholder %s at column %d (want {env_slug}, {ref_slug}, {service}, {domain})",
				key, tmpl, name, len(tmpl)-len(rest)+open+1)
		}
		rest = rest[open+end+1:]
	}
	if !strings.Contains(tmpl, "{env_slug}") && !strings.Contains(tmpl, "{ref_slug}") {
		return fmt.Errorf("%s %q: needs {env_slug} or {ref_slug}, or every environment gets the same hostname", key, tmpl)
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
