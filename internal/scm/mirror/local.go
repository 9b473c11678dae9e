package mirror

import (
	"regexp"
	"strings"
)

// IsLocalPath tells a local path from a git URL (scheme://... or scp-like
// user@host:path), as git itself does.
func IsLocalPath(url string) bool {
	return !strings.Contains(url, "://") && !scpLike.MatchString(url)
}

var scpLike = regexp.MustCompile(`^[^/]+:`)
