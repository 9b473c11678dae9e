package mirror

import (
	"path/filepath"
	"regexp"
	"strings"
)

// IsLocalPath tells a local path from a git URL (scheme://... or scp-like
// user@host:path), as git itself does.
func IsLocalPath(url string) bool {
	return !strings.Contains(url, "://") && !scpLike.MatchString(url)
}

var scpLike = regexp.MustCompile(`^[^/]+:`)

// Resolve makes a relative local path of url absolute, relative to dir (a
// config file's folder); other URLs are returned as they are. Absolute,
// because git runs it from the mirror's folder, not from where the
// command started.
func Resolve(url, dir string) (string, error) {
	if !IsLocalPath(url) || filepath.IsAbs(url) {
		return url, nil
	}
	return filepath.Abs(filepath.Join(dir, url))
}
