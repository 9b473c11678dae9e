package gitops

import "testing"

// TestRepoPathOfSourceURLs: commit statuses go to the source's repository
// on its forge, without credentials or .git; a local path has none.
func TestRepoPathOfSourceURLs(t *testing.T) {
	for url, want := range map[string]string{
		"https://github.com/acme/ops.git":                 "acme/ops",
		"https://oauth2:tok@gitlab.example.com/g/sub/ops": "g/sub/ops",
		"ssh://git@github.com/acme/ops.git":               "acme/ops",
		"/srv/git/ops.git":                                "",
		"file:///srv/git/ops.git":                         "",
	} {
		if got := repoPath(url); got != want {
			t.Errorf("repoPath(%q) = %q, want %q", url, got, want)
		}
	}
}
