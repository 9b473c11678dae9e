package release

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/Masterminds/semver/v3"
)

// Tags says which component versions a real run tags, and how.
type Tags struct {
	// Release, when set, names the release versions: those it matches are
	// tagged once and never moved. Unset, a release version is one without
	// a pre-release part (1.4.0, not 1.4.0-SNAPSHOT or 3.0.0-nightly).
	Release *regexp.Regexp
	// MovePrerelease moves the tag of a pre-release version to the commit
	// each run built. Without it such versions are not tagged: a nightly
	// builds a new commit under the same version every night, and the
	// report says which commit that was.
	MovePrerelease bool
}

// IsRelease reports whether version is a release version, tagged for good.
func (tp Tags) IsRelease(version string) bool {
	if tp.Release != nil {
		return tp.Release.MatchString(version)
	}
	v, err := semver.NewVersion(version)
	return err == nil && v.Prerelease() == ""
}

// tagging is what a real run does with t's tag.
type tagging int

const (
	tagNone tagging = iota // a pre-release, no moving tag asked for
	tagKeep                // the tag is on the built commit already
	tagMake                // a release version not tagged yet
	tagMove                // a pre-release's moving tag
)

func (tp Tags) action(t *Target) tagging {
	switch {
	case t.TagCommit == t.Commit:
		return tagKeep
	case tp.IsRelease(t.Version):
		return tagMake
	case tp.MovePrerelease:
		return tagMove
	}
	return tagNone
}

// CheckTags refuses a real run that would move the tag of a release
// version; pre-release versions are not held to one commit.
func CheckTags(plan *Plan, tp Tags) error {
	var errs []error
	for _, group := range plan.Groups {
		for _, t := range group {
			if t.TagCommit != "" && t.TagCommit != t.Commit && tp.IsRelease(t.Version) {
				errs = append(errs, fmt.Errorf("component %s: tag %s already exists in %s on commit %s, not on %s (%s)",
					t.Name, t.Version, t.Repo, short(t.TagCommit), short(t.Commit), t.Ref))
			}
		}
	}
	return errors.Join(errs...)
}
