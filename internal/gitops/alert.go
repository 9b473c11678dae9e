package gitops

import (
	"time"

	"github.com/slipway-cd/slipway/internal/notify"
)

// deploymentJob names the deployment itself, rather than one of its apps,
// in notifications; its id (0) is apart from the apps' (appID).
var deploymentJob = notify.Job{ID: 0, Name: "deployment", Stage: "gitops"}

// failedAsAWhole tells whether the pass stopped before its apps or objects
// were applied (source, engine, cluster, spec) or the apply itself failed
// on Kubernetes. Apps failing one by one report themselves (report).
func failedAsAWhole(st DeploymentStatus) bool {
	return st.Condition == Stalled && st.Reason != ReasonAppsFailed
}

// alert notifies the first pass of a streak of whole-deployment failures
// and the Ready pass that ends it: once each, never at every interval.
// prev is the status saved before the pass.
func (c *Controller) alert(dep Deployment, art artifact, prev, st DeploymentStatus) {
	d := c.dispatchers[dep.Name]
	var status notify.Status
	var detail string
	switch {
	case failedAsAWhole(st) && !failedAsAWhole(prev):
		status, detail = notify.Failed, st.Reason+": "+st.Message
	case st.Condition == Ready && failedAsAWhole(prev):
		status, detail = notify.Success, "recovered from "+prev.Reason+": "+st.Message
	default:
		return
	}
	c.log.Info("gitops: deployment "+string(status), "deployment", dep.Name, "reason", st.Reason)
	if d == nil {
		return
	}
	src, _ := c.opts.Config.Source(dep.Source)
	job := deploymentJob
	d.Notify(notify.Event{
		Kind:    notify.KindJob,
		Status:  status,
		Time:    time.Now(),
		Project: notify.Project{Name: projectName(dep.Name), Repo: repoPath(src.URL)},
		Job:     &job,
		Ref:     src.Branch,
		SHA:     st.ObservedRevision,
		Commit:  notify.Commit{Title: art.Title, Author: art.Author},
		Detail:  detail,
	})
}
