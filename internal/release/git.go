package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// tagAndPush makes the annotated tag of t's version on its commit in the
// mirror and pushes it to the component's repository. A tag that already
// names that commit is left as it is.
func tagAndPush(ctx context.Context, m *Manifest, t *Target) error {
	if t.TagCommit == t.Commit {
		return nil
	}
	msg := fmt.Sprintf("%s %s: %s %s", m.Name, m.Version, t.Name, t.Version)
	args := []string{"tag", "--annotate", "--message", msg, "--end-of-options", t.Version, t.Commit}
	if _, err := git(ctx, t.Mirror, "config", "user.email"); err != nil {
		// A machine without a git identity still tags, as Slipway.
		args = append([]string{"-c", "user.name=Slipway", "-c", "user.email=slipway@localhost"}, args...)
	}
	if _, err := git(ctx, t.Mirror, args...); err != nil {
		return err
	}
	// To the URL, not the mirror's origin: a mirror pushes only everything.
	ref := "refs/tags/" + t.Version
	if _, err := git(ctx, t.Mirror, "push", "--quiet", "--end-of-options", t.repoURL, ref+":"+ref); err != nil {
		// git may echo the URL with its credentials.
		return errors.New(strings.ReplaceAll(err.Error(), t.repoURL, t.Repo))
	}
	return nil
}

// git runs git in dir (or the current folder) without a terminal prompt
// and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	verb := args[0]
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", verb, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}
