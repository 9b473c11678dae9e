package gitops

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/slug"
)

// reconcileDeployment makes the host run the apps of dep at art's commit,
// saves the status and returns it. A failing app never stops the others.
func (c *Controller) reconcileDeployment(ctx context.Context, dep Deployment, art artifact, fetchErr error) DeploymentStatus {
	prev := c.previousStatus(dep.Name)
	st := DeploymentStatus{Name: dep.Name, Source: dep.Source, ObservedRevision: art.Revision, AppliedRevision: prev.AppliedRevision}
	log := c.log.With("deployment", dep.Name, "revision", short(art.Revision))
	stall := func(reason string, err error) DeploymentStatus {
		// The apps keep running as they were: nothing is known to change.
		// A list even before any pass saw an app, as Statuses gives.
		st.Apps = append([]AppStatus{}, prev.Apps...)
		return c.stall(ctx, log, st, reason, err)
	}
	if fetchErr != nil {
		st.ObservedRevision = prev.ObservedRevision
		return stall(ReasonSourceFailed, fetchErr)
	}
	root, err := art.export(ctx, c.checkoutDir(art), dep.Path)
	if err != nil {
		return stall(ReasonSourceFailed, err)
	}
	apps, err := appFolders(root)
	if err != nil {
		return stall(ReasonSourceFailed, err)
	}
	running, err := c.running(ctx, dep.Name)
	if err != nil {
		return stall(ReasonDeployFailed, err)
	}

	st.Condition, st.Reason = Reconciling, ReasonProgressing
	st.Apps = make([]AppStatus, len(apps))
	for i, app := range apps {
		st.Apps[i] = AppStatus{Name: app, Condition: Reconciling, Reason: ReasonProgressing, ObservedRevision: art.Revision}
	}
	p := &pass{dep: dep, art: art, root: root, envs: map[string]string{}, st: &st}
	for i, app := range apps {
		old, hadOld := prev.App(app)
		a := c.reconcileApp(ctx, p, i, running[app], old.AppliedRevision != "")
		if a.Condition == Stalled && ctx.Err() != nil {
			return interrupted(st, ctx.Err())
		}
		if a.Condition == Stalled && hadOld && old.Condition == Stalled && old.Message == a.Message {
			a.Changed = false // the same failure again: no new notification
		}
		a.LastChange = lastChange(a, old)
		st.Apps[i] = a
		c.report(dep, art, a)
	}
	for _, app := range slices.Sorted(maps.Keys(running)) {
		if slices.Contains(apps, app) {
			continue
		}
		a := c.removed(ctx, dep, running[app])
		if a.Condition == Stalled && ctx.Err() != nil {
			return interrupted(st, ctx.Err())
		}
		old, _ := prev.App(app)
		a.LastChange = lastChange(a, old)
		st.Apps = append(st.Apps, a)
		c.report(dep, art, a)
	}

	var failed []string
	for _, a := range st.Apps {
		if a.Condition != Ready {
			failed = append(failed, a.Name)
		}
	}
	if len(failed) == 0 {
		st.Condition, st.Reason, st.AppliedRevision = Ready, ReasonSucceeded, art.Revision
		st.Message = fmt.Sprintf("%d app(s) at %s", len(apps), short(art.Revision))
	} else {
		st.Condition, st.Reason = Stalled, ReasonAppsFailed
		st.Message = fmt.Sprintf("%d of %d apps failed: %s", len(failed), len(st.Apps), strings.Join(failed, ", "))
	}
	c.save(st)
	c.cleanCheckouts(art)
	return st
}

// interrupted is the status of a pass that its context ended (the
// controller stopping): not a failure, so nothing is saved or notified; the
// status file keeps what the pass last saved (an app Reconciling mid-deploy,
// as after a crash) and the next pass finishes the work.
func interrupted(st DeploymentStatus, err error) DeploymentStatus {
	st.Condition, st.Reason, st.Message = Reconciling, ReasonProgressing, "pass interrupted: "+oneLine(err)
	return st
}

// lastChange is when the app last changed: now when this pass changed it,
// else what the previous status said.
func lastChange(a, old AppStatus) time.Time {
	if a.Changed {
		return time.Now().UTC()
	}
	return old.LastChange
}

// pass is one reconcile of a deployment: what each app's step needs.
type pass struct {
	dep  Deployment
	art  artifact
	root string            // the deployment's folder in the checkout
	envs map[string]string // env slug -> app, to refuse two folders with one slug
	// st is saved with an app Reconciling before its deploy, so a crash
	// shows.
	st *DeploymentStatus
}

// reconcileApp brings the app at index i of the pass's status to its
// desired spec; cur is what runs of it, nil for nothing. wasApplied tells
// that the last saved status had the app running: when no container is
// left, someone removed them all (drift).
func (c *Controller) reconcileApp(ctx context.Context, p *pass, i int, cur *dockerhost.Status, wasApplied bool) AppStatus {
	dep, art, app := p.dep, p.art, p.st.Apps[i].Name
	a := AppStatus{Name: app, ObservedRevision: art.Revision}
	if cur != nil {
		a.Env = cur.Env
		a.AppliedRevision = revisionOf(*cur)
		a.Services = services(*cur)
	}
	log := c.log.With("deployment", dep.Name, "app", app, "revision", short(art.Revision))
	fail := func(reason string, err error) AppStatus {
		a.Condition, a.Reason, a.Message, a.Changed = Stalled, reason, oneLine(err), true
		log.Error("gitops: app failed", "reason", reason, "err", err)
		return a
	}

	env := envSlug(dep.Name, app)
	if env == "" || slug.Label(app) == "" {
		return fail(ReasonInvalid, fmt.Errorf("app folder %q: the name gives no slug (use letters and digits)", app))
	}
	if other, ok := p.envs[env]; ok {
		return fail(ReasonInvalid, fmt.Errorf("app folders %q and %q give the same name %s; rename one", other, app, env))
	}
	p.envs[env] = app
	a.Env = env
	if cur == nil {
		if err := c.checkFree(ctx, env); err != nil {
			return fail(ReasonInvalid, err)
		}
	}

	spec, ids, err := c.desired(ctx, p, app, env)
	if err != nil {
		var invalid *invalidError
		if errors.As(err, &invalid) {
			return fail(ReasonInvalid, err)
		}
		return fail(ReasonDeployFailed, err)
	}
	a.Spec = spec.Labels[LabelSpec]

	reason, why := ReasonCreated, "first deploy"
	if wasApplied {
		reason, why = ReasonDriftCorrected, "drift: no container of the app is left"
	}
	if cur != nil {
		hosts, err := c.hosts(spec)
		if err != nil {
			return fail(ReasonInvalid, err)
		}
		reason, why = compare(*cur, spec, ids, hosts)
	}
	if reason == ReasonUpToDate {
		// A proxy started with the controller lacks the routes of what
		// ran before; those it has are left as they are.
		if err := c.opts.Deployer.Reroute(ctx, env); err != nil {
			return fail(ReasonDeployFailed, err)
		}
		a.Condition, a.Reason, a.Message = Ready, ReasonUpToDate, "running as "+short(art.Revision)+" asks"
		a.AppliedRevision = art.Revision
		log.Debug("gitops: app up to date")
		return a
	}

	log.Info("gitops: deploying", "reason", reason, "why", why)
	p.st.Apps[i] = AppStatus{Name: app, Env: env, Condition: Reconciling, Reason: ReasonProgressing, Message: why,
		ObservedRevision: art.Revision, AppliedRevision: a.AppliedRevision, Services: a.Services}
	c.save(*p.st)
	got, err := c.opts.Deployer.Deploy(ctx, spec)
	if err != nil {
		return fail(ReasonDeployFailed, err)
	}
	a.Condition, a.Reason, a.Message, a.Changed = Ready, reason, why, true
	a.AppliedRevision = art.Revision
	a.Services = services(got)
	log.Info("gitops: applied", "reason", reason, "generation", got.Generation)
	return a
}

// removed handles an app that runs but left the source.
func (c *Controller) removed(ctx context.Context, dep Deployment, cur *dockerhost.Status) AppStatus {
	app := appOf(*cur)
	a := AppStatus{Name: app, Env: cur.Env, AppliedRevision: revisionOf(*cur), Services: services(*cur)}
	log := c.log.With("deployment", dep.Name, "app", app)
	if !dep.Prune {
		a.Condition, a.Reason, a.Message = Ready, ReasonOrphaned, "its folder left the source; kept running (prune: false)"
		log.Info("gitops: app orphaned, kept (prune: false)")
		return a
	}
	if err := c.opts.Deployer.Teardown(ctx, cur.Env); err != nil {
		a.Condition, a.Reason, a.Message, a.Changed = Stalled, ReasonDeployFailed, "prune: "+oneLine(err), true
		log.Error("gitops: prune failed", "err", err)
		return a
	}
	a.Condition, a.Reason, a.Message, a.Changed = Ready, ReasonPruned, "its folder left the source; removed", true
	a.Services = nil
	log.Info("gitops: app pruned")
	return a
}

// invalidError is a mistake in the app's files, not a failure of the host.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// desired reads the app's compose.yaml at the commit and pins its images:
// the spec to run, with the hash of what makes it, and the image ID of each
// service.
func (c *Controller) desired(ctx context.Context, p *pass, app, env string) (dockerhost.Spec, map[string]string, error) {
	file := filepath.Join(p.root, app, ComposeFile)
	rel := filepath.ToSlash(filepath.Join(p.dep.Path, app, ComposeFile))
	if fi, err := os.Lstat(file); err == nil && !fi.Mode().IsRegular() {
		// A link could make the host's files the app's spec.
		return dockerhost.Spec{}, nil, &invalidError{fmt.Errorf("%s: not a regular file (a link?)", rel)}
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return dockerhost.Spec{}, nil, &invalidError{fmt.Errorf("%s: %w", rel, errors.Unwrap(err))}
	}
	if err := unsetVars(rel, content); err != nil {
		return dockerhost.Spec{}, nil, &invalidError{err}
	}
	parsed, err := compose.Parse(ctx, file, content, nil)
	if err != nil {
		// Errors name the checkout's file: show the repository's.
		return dockerhost.Spec{}, nil, &invalidError{relocated{strings.ReplaceAll(err.Error(), file, rel), err}}
	}
	ids := map[string]string{}
	for i, svc := range parsed.Services {
		pinned, id, err := c.opts.Deployer.Resolve(ctx, svc.Image)
		if err != nil {
			return dockerhost.Spec{}, nil, fmt.Errorf("%s: services.%s: %w", rel, svc.Name, err)
		}
		parsed.Services[i].Image = pinned
		ids[svc.Name] = id
	}
	hash, err := specHash(parsed.Services)
	if err != nil {
		return dockerhost.Spec{}, nil, err
	}
	return dockerhost.Spec{
		Env:      env,
		Name:     p.dep.Name + "/" + app,
		Services: parsed.Services,
		Labels: map[string]string{LabelDeployment: p.dep.Name, LabelApp: app, LabelSpec: hash, LabelRevision: p.art.Revision,
			LabelInstallation: c.installation},
		// Stopping the old generation (StopTimeout for an image that
		// ignores SIGTERM) holds up neither the pass nor the next one.
		RetireInBackground: true,
	}, ids, nil
}

// relocated is an error whose message names another path.
type relocated struct {
	msg string
	err error
}

func (e relocated) Error() string { return e.msg }
func (e relocated) Unwrap() error { return e.err }

// specHash identifies what a deploy makes of the services; images are
// pinned, so a tag moved to another digest changes it.
func specHash(services []compose.Service) (string, error) {
	b, err := json.Marshal(services)
	if err != nil {
		return "", fmt.Errorf("spec hash: %w", err)
	}
	sum := sha256.Sum256(append([]byte("gitops/v1\n"), b...))
	return hex.EncodeToString(sum[:16]), nil
}

// hosts are the hostnames the deployer gives spec's services now (by
// service; "" without one): a proxy or --domain added, changed or removed
// since the app was deployed changes them.
func (c *Controller) hosts(spec dockerhost.Spec) (map[string]string, error) {
	out := map[string]string{}
	for _, svc := range spec.Services {
		h, err := c.opts.Deployer.Host(spec, svc)
		if err != nil {
			return nil, err
		}
		out[svc.Name] = h
	}
	return out, nil
}

// compare says why cur is not spec with the hostnames hosts (and whether
// it is drift, which only Docker-side changes make), or ReasonUpToDate.
func compare(cur dockerhost.Status, spec dockerhost.Spec, ids, hosts map[string]string) (reason, why string) {
	want := spec.Labels[LabelSpec]
	for _, s := range cur.Services {
		if s.Labels[LabelSpec] != want {
			return ReasonUpdated, "the desired spec changed (" + describeChange(cur, spec) + ")"
		}
		if s.Labels[LabelInstallation] != spec.Labels[LabelInstallation] {
			return ReasonUpdated, "labelled with the installation id " + spec.Labels[LabelInstallation]
		}
	}
	var changed []string
	for _, svc := range spec.Services {
		if s, ok := cur.Service(svc.Name); ok && s.Host != hosts[svc.Name] {
			changed = append(changed, fmt.Sprintf("service %s: %s, now %s", svc.Name, cmp.Or(s.Host, "none"), cmp.Or(hosts[svc.Name], "none")))
		}
	}
	if len(changed) > 0 {
		return ReasonUpdated, "the hostname changed (" + strings.Join(changed, "; ") + ")"
	}
	var drift []string
	for _, svc := range spec.Services {
		s, ok := cur.Service(svc.Name)
		switch {
		case !ok:
			drift = append(drift, "service "+svc.Name+" has no container")
		case s.State != "running":
			drift = append(drift, "service "+svc.Name+" is "+s.State)
		case s.ImageID != ids[svc.Name]:
			drift = append(drift, "service "+svc.Name+" runs image "+shortID(s.ImageID)+", not "+shortID(ids[svc.Name]))
		}
	}
	if cur.Leftovers > 0 {
		drift = append(drift, fmt.Sprintf("%d container(s) of an interrupted deploy", cur.Leftovers))
	}
	if len(drift) > 0 {
		return ReasonDriftCorrected, "drift: " + strings.Join(drift, "; ")
	}
	return ReasonUpToDate, ""
}

// describeChange names the services whose image changed, for humans.
func describeChange(cur dockerhost.Status, spec dockerhost.Spec) string {
	var out []string
	for _, svc := range spec.Services {
		s, ok := cur.Service(svc.Name)
		switch {
		case !ok:
			out = append(out, "new service "+svc.Name)
		case s.Image != svc.Image:
			out = append(out, "service "+svc.Name+" image "+svc.Image)
		}
	}
	for _, s := range cur.Services {
		if !slices.ContainsFunc(spec.Services, func(svc compose.Service) bool { return svc.Name == s.Name }) {
			out = append(out, "service "+s.Name+" removed")
		}
	}
	if len(out) == 0 {
		return "settings"
	}
	return strings.Join(out, ", ")
}

// running returns the deployment's apps on the host, by app name.
func (c *Controller) running(ctx context.Context, deployment string) (map[string]*dockerhost.Status, error) {
	all, err := c.opts.Deployer.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*dockerhost.Status{}
	for i := range all {
		st := &all[i]
		if len(st.Services) == 0 || st.Services[0].Labels[LabelDeployment] != deployment {
			continue
		}
		// Another installation's (another Slipway on this engine) is not
		// ours to update or prune. Containers of a Slipway from before
		// installation ids have none: adopted, and labelled at the next
		// deploy (compare asks for one).
		if inst := st.Services[0].Labels[LabelInstallation]; inst != "" && inst != c.installation {
			continue
		}
		out[appOf(*st)] = st
	}
	return out, nil
}

// checkFree refuses to take over an environment that is not ours (a
// review environment with the same slug).
func (c *Controller) checkFree(ctx context.Context, env string) error {
	_, err := c.opts.Deployer.Status(ctx, env)
	switch {
	case errors.Is(err, dockerhost.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("environment %s already exists on the host and is not this app's; rename the app folder", env)
}

// appFolders lists the app folders under root, sorted; hidden ones are
// left out.
func appFolders(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var apps []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			apps = append(apps, e.Name())
		}
	}
	return apps, nil
}

// envSlug is the environment of an app on the host: the deployment's name
// (a slug) and the app folder's slug.
func envSlug(deployment, app string) string {
	return slug.Label(deployment + "-" + app)
}

func appOf(st dockerhost.Status) string {
	if len(st.Services) == 0 {
		return ""
	}
	return st.Services[0].Labels[LabelApp]
}

func revisionOf(st dockerhost.Status) string {
	if len(st.Services) == 0 {
		return ""
	}
	return st.Services[0].Labels[LabelRevision]
}

func services(st dockerhost.Status) []ServiceStatus {
	var out []ServiceStatus
	for _, s := range st.Services {
		out = append(out, ServiceStatus{Name: s.Name, Image: s.Image, Addr: s.Addr(), Host: s.Host})
	}
	return out
}

func (c *Controller) save(st DeploymentStatus) {
	st.UpdatedAt = time.Now().UTC()
	if dep, ok := c.deployment(st.Name); ok {
		// A pass that ran while Suspend was asked for ends suspended.
		st.Suspended = c.suspendedBy(dep) != ""
	}
	if err := c.saveStatus(st); err != nil {
		c.log.Error("gitops: save status", "deployment", st.Name, "err", err)
	}
}

// checkoutDir is where a commit's files are exported.
func (c *Controller) checkoutDir(art artifact) string {
	return filepath.Join(c.opts.StateDir, "checkouts", art.Source, art.Revision)
}

// cleanCheckouts removes the source's other commits' files.
func (c *Controller) cleanCheckouts(art artifact) {
	dir := filepath.Dir(c.checkoutDir(art))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), art.Revision) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func shortID(id string) string {
	return short(strings.TrimPrefix(id, "sha256:"))
}

// stall records that a deployment's pass stopped at reason (or was
// interrupted, when ctx ended), keeping what st already says of its apps
// and objects.
func (c *Controller) stall(ctx context.Context, log *slog.Logger, st DeploymentStatus, reason string, err error) DeploymentStatus {
	if ctx.Err() != nil {
		return interrupted(st, ctx.Err())
	}
	st.Condition, st.Reason, st.Message = Stalled, reason, oneLine(err)
	log.Error("gitops: deployment stalled", "reason", reason, "err", err)
	c.save(st)
	return st
}
