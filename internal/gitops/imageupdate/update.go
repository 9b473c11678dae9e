// Package imageupdate writes the images that image policies selected into
// the files of a git repository, where markers ask for them, then commits
// and pushes the change. Flux's image-automation-controller is the model.
package imageupdate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
)

// Update is one repository to keep up to date with the policies.
type Update struct {
	Name string
	// URL is a git URL or an absolute local path.
	URL string
	// Branch is checked out; PushBranch receives the commits (it is
	// Branch unless said otherwise).
	Branch, PushBranch string
	// Path is the folder whose files are scanned for markers.
	Path                    string
	AuthorName, AuthorEmail string
	Message                 *template.Template
	Interval                time.Duration
}

// MessageData is what the message template sees.
type MessageData struct {
	// Update is the name of the update.
	Update  string
	Changes []Change
}

func parseMessage(src string) (*template.Template, error) {
	t, err := template.New("message").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	// A template naming a field that does not exist fails now, not at the
	// first change.
	sample := MessageData{Update: "u", Changes: []Change{{File: "f", Line: 1, Marker: "p", Old: "a", New: "b"}}}
	if err := t.Execute(new(strings.Builder), sample); err != nil {
		return nil, err
	}
	return t, nil
}

// Outcome is what a run did or, on a dry run, would do.
type Outcome struct {
	Edits []Edit
	// Commit is the pushed commit; empty when nothing was committed.
	Commit string
}

// Changes lists the changes of every edit.
func (o Outcome) Changes() []Change {
	var out []Change
	for _, e := range o.Edits {
		out = append(out, e.Changes...)
	}
	return out
}

// Run clones the repository, rewrites the marked values under Path with
// results (policy name -> selection), and commits and pushes the edits to
// PushBranch. Nothing is committed when every value is already right, so a
// run can be repeated at will. A dry run stops before writing anything.
func (u *Update) Run(ctx context.Context, results map[string]imagepolicy.Result, dryRun bool) (Outcome, error) {
	dir, err := os.MkdirTemp("", "slipway-imageupdate-")
	if err != nil {
		return Outcome{}, err
	}
	defer os.RemoveAll(dir)
	wt, err := clone(ctx, u.URL, dir, u.Branch, u.PushBranch)
	if err != nil {
		return Outcome{}, fmt.Errorf("image update %s: %w", u.Name, err)
	}
	edits, err := Plan(dir, u.Path, results)
	if err != nil {
		return Outcome{}, fmt.Errorf("image update %s: %w", u.Name, err)
	}
	out := Outcome{Edits: edits}
	if dryRun || len(edits) == 0 {
		return out, nil
	}
	if err := Apply(dir, edits); err != nil {
		return out, fmt.Errorf("image update %s: %w", u.Name, err)
	}
	var msg strings.Builder
	if err := u.Message.Execute(&msg, MessageData{Update: u.Name, Changes: out.Changes()}); err != nil {
		return out, fmt.Errorf("image update %s: message: %w", u.Name, err)
	}
	files := make([]string, len(edits))
	for i, e := range edits {
		files[i] = e.File
	}
	if out.Commit, err = wt.commitAndPush(ctx, files, u.AuthorName, u.AuthorEmail, msg.String(), u.PushBranch); err != nil {
		return out, fmt.Errorf("image update %s: %w", u.Name, err)
	}
	return out, nil
}
