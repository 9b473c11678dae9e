package imageupdate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/slipway-cd/slipway/internal/scm/mirror"
)

// worktree is a clone of the update's repository in a temporary folder.
type worktree struct {
	dir string
	url string   // for redacting errors
	env []string // added to git's environment
}

// git runs git in the worktree with stdin as its input; errors carry git's
// message with any credentials of the URL hidden.
func (w worktree) git(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	// No hooks and no signing: the commit is the bot's, whatever the
	// machine's git configuration says.
	full := append([]string{"-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = w.dir
	cmd.Stdin = stdin
	// Never ask for credentials on a terminal: fail instead.
	cmd.Env = append(append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false"), w.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if w.url != "" {
			msg = strings.ReplaceAll(msg, w.url, mirror.Redact(w.url))
		}
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// clone clones url into dir and checks out branch from the remote's start
// branch: the push branch when it already exists there (so that a second
// run builds on the first one's commit), else the checkout branch.
func clone(ctx context.Context, url, dir, branch, pushBranch string) (worktree, error) {
	w := worktree{dir: dir, url: url}
	if _, err := w.git(ctx, nil, "clone", "--quiet", "--no-checkout", "--", url, dir); err != nil {
		return w, fmt.Errorf("cloning %s: %w", mirror.Redact(url), err)
	}
	start := "refs/remotes/origin/" + branch
	if _, err := w.git(ctx, nil, "rev-parse", "--verify", "--quiet", "refs/remotes/origin/"+pushBranch); err == nil {
		start = "refs/remotes/origin/" + pushBranch
	} else if _, err := w.git(ctx, nil, "rev-parse", "--verify", "--quiet", start); err != nil {
		return w, fmt.Errorf("%s has no branch %q", mirror.Redact(url), branch)
	}
	if _, err := w.git(ctx, nil, "checkout", "--quiet", "-B", pushBranch, start); err != nil {
		return w, err
	}
	return w, nil
}

// commitAndPush commits files with the author and message and pushes the
// commit to pushBranch; it returns the commit's hash.
func (w worktree) commitAndPush(ctx context.Context, files []string, name, email, message, pushBranch string) (string, error) {
	if _, err := w.git(ctx, nil, append([]string{"add", "--"}, files...)...); err != nil {
		return "", err
	}
	bot := w
	bot.env = []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email}
	if _, err := bot.git(ctx, strings.NewReader(message), "commit", "--quiet", "--file=-"); err != nil {
		return "", err
	}
	sha, err := w.git(ctx, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if _, err := w.git(ctx, nil, "push", "--quiet", "origin", "HEAD:refs/heads/"+pushBranch); err != nil {
		return "", fmt.Errorf("pushing to %s %s: %w", mirror.Redact(w.url), pushBranch, err)
	}
	return sha, nil
}
