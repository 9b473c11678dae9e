// Package mirror keeps a bare mirror of each project's git repository in
// the server's data folder and fetches it when a trigger arrives, so that
// pipelines read commits locally.
package mirror

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Mirrors manages the mirrors under one folder.
type Mirrors struct {
	Dir   string
	locks sync.Map // mirror path -> *sync.Mutex: one git process per mirror
	urls  sync.Map // mirror path -> the origin URL it was last given
}

// Sync makes sure the mirror of repoURL named name exists and is up to
// date, and returns its path. repoURL may be a local path, file://,
// http(s):// or ssh. A token authenticates http(s) fetches: it travels in
// git's environment as a header, never in its arguments (which any process
// may read) nor in the mirror's config. When the mirror holds every commit
// of want already (the commit a webhook announces, say), it is not fetched.
func (m *Mirrors) Sync(ctx context.Context, name, repoURL, token string, want ...string) (string, error) {
	path, unlock := m.lock(name)
	defer unlock()

	if _, err := os.Stat(filepath.Join(path, "HEAD")); err != nil {
		if err := os.MkdirAll(m.Dir, 0o755); err != nil {
			return "", err
		}
		tmp := path + ".tmp"
		os.RemoveAll(tmp)
		if err := git(ctx, "", repoURL, token, "clone", "--mirror", "--quiet", "--", repoURL, tmp); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, path); err != nil {
			return "", err
		}
		return path, nil
	}
	if len(want) > 0 && hasCommits(ctx, path, want) {
		return path, nil
	}
	if err := m.setURL(ctx, path, repoURL); err != nil {
		return "", err
	}
	// No automatic maintenance (gc, repack) in a fetch that someone waits
	// for: a mirror is small work next to a pipeline, and git would run it
	// after every fetch it deems worth it.
	if err := git(ctx, path, repoURL, token, "-c", "maintenance.auto=false", "-c", "gc.auto=0",
		"fetch", "--prune", "--quiet", "origin"); err != nil {
		return "", err
	}
	return path, nil
}

// setURL points the mirror's origin at repoURL when it is not there yet
// (the project's URL changed): a write of its config each time would be
// a git process for nothing.
func (m *Mirrors) setURL(ctx context.Context, path, repoURL string) error {
	if v, ok := m.urls.Load(path); ok && v == repoURL {
		return nil
	}
	out, err := exec.CommandContext(ctx, "git", "-C", path, "config", "--get", "remote.origin.url").Output()
	if err != nil || strings.TrimSpace(string(out)) != repoURL {
		if err := git(ctx, path, repoURL, "", "remote", "set-url", "origin", repoURL); err != nil {
			return err
		}
	}
	m.urls.Store(path, repoURL)
	return nil
}

// hasCommits reports whether the repository at path holds every commit of
// shas (full SHAs; anything else counts as missing).
func hasCommits(ctx context.Context, path string, shas []string) bool {
	for _, sha := range shas {
		if len(sha) != 40 || strings.Trim(sha, "0123456789abcdef") != "" {
			return false
		}
		if exec.CommandContext(ctx, "git", "-C", path, "cat-file", "-e", sha+"^{commit}").Run() != nil {
			return false
		}
	}
	return true
}

// lock takes the lock of the mirror called name and returns its path.
func (m *Mirrors) lock(name string) (path string, unlock func()) {
	path = filepath.Join(m.Dir, name+".git")
	v, _ := m.locks.LoadOrStore(path, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return path, mu.Unlock
}

// Redact hides the password or token of a repository URL for logs and
// API answers.
func Redact(repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil || u.User == nil {
		return repoURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

func git(ctx context.Context, dir, repoURL, token string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Never ask for credentials on a terminal: fail instead.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	if token != "" {
		basic := base64.StdEncoding.EncodeToString([]byte("oauth2:" + token))
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		// git may echo the URL with its credentials: hide them.
		msg = strings.ReplaceAll(msg, repoURL, Redact(repoURL))
		if token != "" {
			msg = strings.ReplaceAll(msg, token, "xxxxx")
		}
		return fmt.Errorf("git %s %s: %s", command(args), Redact(repoURL), msg)
	}
	return nil
}

// command is git's subcommand among args (after -c options).
func command(args []string) string {
	for i := 0; i < len(args); i++ {
		if args[i] == "-c" {
			i++
			continue
		}
		return args[i]
	}
	return ""
}

// Tag makes an annotated tag on commit in the mirror called name. The
// tagger is git's own identity (user.name and user.email, or
// GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL). With move, a tag of that
// name elsewhere is moved to commit.
func (m *Mirrors) Tag(ctx context.Context, name, tag, commit, message string, move bool) error {
	path, unlock := m.lock(name)
	defer unlock()
	args := []string{"tag", "--annotate", "--message", message}
	if move {
		args = append(args, "--force")
	}
	return git(ctx, path, "", "", append(args, "--end-of-options", tag, commit)...)
}

// Push pushes refspecs from the mirror called name to repoURL, with token
// as Sync uses it. It names the URL, not the mirror's origin: a mirror's
// remote pushes only everything.
func (m *Mirrors) Push(ctx context.Context, name, repoURL, token string, refspecs ...string) error {
	path, unlock := m.lock(name)
	defer unlock()
	return git(ctx, path, repoURL, token, append([]string{"push", "--quiet", "--end-of-options", repoURL}, refspecs...)...)
}
