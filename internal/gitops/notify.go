package gitops

import (
	"hash/fnv"
	"net/url"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/notify"
)

// report sends a notification for an app the pass changed or found
// failing anew: as a job event of the deployment's "pipeline", named
// after the app, on the source's commit (Slack, webhooks and commit
// statuses read it as they read any job event).
func (c *Controller) report(dep Deployment, art artifact, a AppStatus) {
	d := c.dispatchers[dep.Name]
	if d == nil || !a.Changed {
		return
	}
	status := notify.Success
	if a.Condition == Stalled {
		status = notify.Failed
	}
	src, _ := c.opts.Config.Source(dep.Source)
	d.Notify(notify.Event{
		Kind:    notify.KindJob,
		Status:  status,
		Time:    time.Now(),
		Project: notify.Project{Name: projectName(dep.Name), Repo: repoPath(src.URL)},
		Job:     &notify.Job{ID: appID(a.Name), Name: a.Name, Stage: "gitops"},
		Ref:     src.Branch,
		SHA:     art.Revision,
		Commit:  notify.Commit{Title: art.Title, Author: art.Author},
		Detail:  a.Reason + ": " + a.Message,
	})
}

// repoPath is the repository's path on its forge (owner/name), where
// commit statuses go unless the target names one; "" for a local path.
func repoPath(repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

// projectName names a deployment in notifications.
func projectName(deployment string) string { return "gitops/" + deployment }

// appID keeps the apps of a deployment apart in the dispatcher, which
// lets a newer event of one subject supersede an older one.
func appID(app string) int64 {
	h := fnv.New32a()
	h.Write([]byte(app))
	return int64(h.Sum32())
}
