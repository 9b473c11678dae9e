// Package tier names GitLab's deployment tiers and guesses an
// environment's tier from its name as GitLab does when deployment_tier is
// not given. The CI dialect (CI_ENVIRONMENT_TIER) and the store share it.
package tier

import "regexp"

// Deployment tiers, with GitLab's names.
const (
	Production  = "production"
	Staging     = "staging"
	Testing     = "testing"
	Development = "development"
	Other       = "other"
)

// Valid reports whether t is one of the tiers.
func Valid(t string) bool {
	switch t {
	case Production, Staging, Testing, Development, Other:
		return true
	}
	return false
}

// guesses are GitLab's patterns, tried in order.
var guesses = []struct {
	re   *regexp.Regexp
	tier string
}{
	{regexp.MustCompile(`(?i)^(prod|production|live)\b`), Production},
	{regexp.MustCompile(`(?i)(staging|stage|model|pre|demo)`), Staging},
	{regexp.MustCompile(`(?i)(test|tst|int|ac(ce|)pt|qa|qc|control|quality)`), Testing},
	{regexp.MustCompile(`(?i)(dev|review|trunk)`), Development},
	{regexp.MustCompile(`(?i)(prod|production|live)`), Production},
}

// Guess returns the tier GitLab gives an environment called name.
func Guess(name string) string {
	for _, g := range guesses {
		if g.re.MatchString(name) {
			return g.tier
		}
	}
	return Other
}
