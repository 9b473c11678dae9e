// Package imagepolicy scans the tags of an image repository in any OCI
// registry and selects the latest one by policy: semver range, numerical or
// alphabetical order, after an optional tag filter. Flux's
// image-reflector-controller (ImageRepository and ImagePolicy) is the model.
package imagepolicy

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
)

// Spec is a policy as the user writes it. Exactly one of Semver, Numerical
// and Alphabetical is set.
type Spec struct {
	Name string
	// Image is the repository to scan, without a tag: host:port/team/app.
	Image string
	// CredentialsRef is "env:NAME", NAME holding "user:password"; empty
	// means anonymous.
	CredentialsRef string
	// Semver is a range such as ">=1.0.0 <2.0.0".
	Semver       *SemverSpec
	Numerical    *OrderSpec
	Alphabetical *OrderSpec
	FilterTags   *FilterSpec
	// PinDigest writes image:tag@sha256:… instead of image:tag.
	PinDigest bool
}

// SemverSpec selects the highest version in Range.
type SemverSpec struct{ Range string }

// OrderSpec orders tags; "asc" (the default) selects the last tag in
// ascending order, that is the highest, "desc" the lowest.
type OrderSpec struct{ Order string }

// FilterSpec keeps the tags Pattern matches and, when Extract is set,
// orders them by Extract expanded with the pattern's groups ("$ts").
type FilterSpec struct{ Pattern, Extract string }

// FieldError is a mistake in one field of a Spec. Field is the path as
// written in the config file: "policy.semver.range".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Policy is a checked Spec, ready to select tags.
type Policy struct {
	Name      string
	Image     string
	PinDigest bool

	repo    name.Repository
	credEnv string // the variable holding user:password; "" for anonymous
	filter  *regexp.Regexp
	extract string
	order   order
}

// order reads the key a policy sorts tags by and compares two keys:
// later > 0 when a is a later choice than b.
type order struct {
	desc  string // for messages: "semver >=1.0.0"
	parse func(key string) (any, bool)
	later func(a, b any) int
}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// policyName leaves ":" out: markers use it to ask for a part (app:tag).
	policyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// New checks a Spec and makes its Policy.
func New(s Spec) (*Policy, error) {
	p := &Policy{Name: s.Name, Image: s.Image, PinDigest: s.PinDigest}
	if s.Name == "" {
		return nil, &FieldError{"name", errors.New("is required")}
	}
	if !policyName.MatchString(s.Name) {
		return nil, &FieldError{"name", fmt.Errorf("%q: want letters, digits, '.', '_' and '-'", s.Name)}
	}
	if s.Image == "" {
		return nil, &FieldError{"image", errors.New("is required")}
	}
	repo, err := name.NewRepository(s.Image)
	if err != nil {
		return nil, &FieldError{"image", fmt.Errorf("%q is not an image repository (give it without a tag or digest): %w", s.Image, err)}
	}
	p.repo = repo
	if s.CredentialsRef != "" {
		v, ok := strings.CutPrefix(s.CredentialsRef, "env:")
		if !ok || !envName.MatchString(v) {
			return nil, &FieldError{"credentials_ref", fmt.Errorf("%q: want env:NAME, NAME a variable holding user:password", s.CredentialsRef)}
		}
		p.credEnv = v
	}
	if f := s.FilterTags; f != nil {
		if f.Pattern == "" {
			return nil, &FieldError{"filterTags.pattern", errors.New("is required")}
		}
		if p.filter, err = regexp.Compile(f.Pattern); err != nil {
			return nil, &FieldError{"filterTags.pattern", err}
		}
		if err := checkExtract(p.filter, f.Extract); err != nil {
			return nil, &FieldError{"filterTags.extract", err}
		}
		p.extract = f.Extract
	}
	orders := 0
	if s.Semver != nil {
		orders++
		if p.order, err = semverOrder(s.Semver.Range); err != nil {
			return nil, &FieldError{"policy.semver.range", err}
		}
	}
	if s.Numerical != nil {
		orders++
		if p.order, err = numericalOrder(s.Numerical.Order); err != nil {
			return nil, &FieldError{"policy.numerical.order", err}
		}
	}
	if s.Alphabetical != nil {
		orders++
		if p.order, err = alphabeticalOrder(s.Alphabetical.Order); err != nil {
			return nil, &FieldError{"policy.alphabetical.order", err}
		}
	}
	if orders != 1 {
		return nil, &FieldError{"policy", fmt.Errorf("want exactly one of semver, numerical, alphabetical (got %d)", orders)}
	}
	return p, nil
}

var groupRef = regexp.MustCompile(`\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))`)

// checkExtract refuses an extract template naming a group the pattern
// does not have: it would make every key empty and no tag would fit.
func checkExtract(re *regexp.Regexp, extract string) error {
	for _, m := range groupRef.FindAllStringSubmatch(extract, -1) {
		g := m[1] + m[2]
		if n, err := strconv.Atoi(g); err == nil && n <= re.NumSubexp() {
			continue
		}
		if g != "" && re.SubexpIndex(g) >= 0 {
			continue
		}
		return fmt.Errorf("%q: the pattern has no group %q", extract, g)
	}
	return nil
}

func semverOrder(rng string) (order, error) {
	if rng == "" {
		return order{}, errors.New("is required")
	}
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return order{}, fmt.Errorf("%q is not a semver range: %w", rng, err)
	}
	// Pre-releases are candidates only when the range names one (>=1.0.0-0),
	// as in Flux; Masterminds' Check behaves so.
	return order{
		desc: "semver " + rng,
		parse: func(k string) (any, bool) {
			v, err := semver.NewVersion(k)
			return v, err == nil && c.Check(v)
		},
		later: func(a, b any) int { return a.(*semver.Version).Compare(b.(*semver.Version)) },
	}, nil
}

func numericalOrder(o string) (order, error) {
	sign, err := direction(o)
	return order{
		desc: "numerical " + cmp.Or(o, "asc"),
		parse: func(k string) (any, bool) {
			f, err := strconv.ParseFloat(k, 64)
			return f, err == nil && !math.IsNaN(f)
		},
		later: func(a, b any) int { return sign * cmp.Compare(a.(float64), b.(float64)) },
	}, err
}

func alphabeticalOrder(o string) (order, error) {
	sign, err := direction(o)
	return order{
		desc:  "alphabetical " + cmp.Or(o, "asc"),
		parse: func(k string) (any, bool) { return k, true },
		later: func(a, b any) int { return sign * strings.Compare(a.(string), b.(string)) },
	}, err
}

// direction is 1 when the highest key is the latest (asc, the default),
// -1 when the lowest is (desc).
func direction(o string) (int, error) {
	switch o {
	case "", "asc":
		return 1, nil
	case "desc":
		return -1, nil
	}
	return 0, fmt.Errorf("%q: want asc or desc", o)
}

// sortKey is what a tag is ordered by: the tag itself, or what the filter
// extracts from it. ok is false for tags the filter drops.
func (p *Policy) sortKey(tag string) (string, bool) {
	if p.filter == nil {
		return tag, true
	}
	m := p.filter.FindStringSubmatchIndex(tag)
	if m == nil {
		return "", false
	}
	if p.extract == "" {
		return tag, true
	}
	return string(p.filter.ExpandString(nil, p.extract, tag, m)), true
}

// Select returns the latest of tags by the policy. Tags the filter drops
// or the policy cannot read (not a version, not a number) are skipped.
// Equal keys are broken by the tag, so the choice never depends on the
// registry's listing order.
func (p *Policy) Select(tags []string) (string, error) {
	var best string
	var bestKey any
	for _, t := range tags {
		k, ok := p.sortKey(t)
		if !ok {
			continue
		}
		v, ok := p.order.parse(k)
		if !ok {
			continue
		}
		if bestKey == nil {
			best, bestKey = t, v
			continue
		}
		if c := p.order.later(v, bestKey); c > 0 || (c == 0 && t > best) {
			best, bestKey = t, v
		}
	}
	if bestKey == nil {
		return "", fmt.Errorf("image policy %s: none of the %d tags of %s fits %s%s", p.Name, len(tags), p.Image, p.order.desc, p.filterNote())
	}
	return best, nil
}

func (p *Policy) filterNote() string {
	if p.filter == nil {
		return ""
	}
	return fmt.Sprintf(" after filterTags %q", p.filter.String())
}
