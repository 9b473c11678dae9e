package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Argo CD's annotations, read as Argo CD reads them, so a repository made
// for Argo CD keeps its order here.
const (
	// AnnotationSyncWave is an integer: lower waves are applied, and
	// waited on to be healthy, before higher ones; 0 when unset.
	AnnotationSyncWave = "argocd.argoproj.io/sync-wave"
	// AnnotationHook makes the object a hook of a phase (PreSync, Sync,
	// PostSync) instead of an object the deployment keeps.
	AnnotationHook = "argocd.argoproj.io/hook"
	// AnnotationHookDeletePolicy says when a hook is deleted: a
	// comma-separated list of HookSucceeded, HookFailed and
	// BeforeHookCreation (the default).
	AnnotationHookDeletePolicy = "argocd.argoproj.io/hook-delete-policy"
)

// Hook phases.
const (
	PreSync  = "PreSync"  // before anything is applied; must succeed
	Sync     = "Sync"     // with the objects of its wave
	PostSync = "PostSync" // once every object is healthy
)

// Hook delete policies.
const (
	HookSucceeded      = "HookSucceeded"
	HookFailed         = "HookFailed"
	BeforeHookCreation = "BeforeHookCreation"
)

// Hook is an object run at a phase of each pass that runs hooks: created,
// waited on to complete (a Job) or be healthy, then deleted as its policy
// says. Hooks are not part of the inventory: prune never deletes them.
type Hook struct {
	Object   *unstructured.Unstructured
	Phase    string
	Wave     int
	Policies []string
}

// Plan is a set of objects split into Argo CD's phases and waves.
type Plan struct {
	// Objects are what the deployment applies and keeps, hooks aside.
	Objects []*unstructured.Unstructured
	Hooks   []Hook
}

// NewPlan reads the waves and hooks of objects; a bad annotation is an
// error naming the object and the annotation.
func NewPlan(objects []*unstructured.Unstructured) (Plan, error) {
	var p Plan
	for _, o := range objects {
		w, err := waveOf(o)
		if err != nil {
			return Plan{}, err
		}
		phase, isHook := o.GetAnnotations()[AnnotationHook]
		if !isHook {
			p.Objects = append(p.Objects, o)
			continue
		}
		if phase != PreSync && phase != Sync && phase != PostSync {
			return Plan{}, fmt.Errorf("%s: annotation %s: want PreSync, Sync or PostSync, got %q", refOf(o), AnnotationHook, phase)
		}
		h := Hook{Object: o, Phase: phase, Wave: w, Policies: []string{BeforeHookCreation}}
		if s, ok := o.GetAnnotations()[AnnotationHookDeletePolicy]; ok {
			h.Policies = nil
			for _, pol := range strings.Split(s, ",") {
				pol = strings.TrimSpace(pol)
				if pol != HookSucceeded && pol != HookFailed && pol != BeforeHookCreation {
					return Plan{}, fmt.Errorf("%s: annotation %s: want HookSucceeded, HookFailed or BeforeHookCreation (comma-separated), got %q",
						refOf(o), AnnotationHookDeletePolicy, pol)
				}
				h.Policies = append(h.Policies, pol)
			}
		}
		p.Hooks = append(p.Hooks, h)
	}
	return p, nil
}

func waveOf(o *unstructured.Unstructured) (int, error) {
	s, ok := o.GetAnnotations()[AnnotationSyncWave]
	if !ok {
		return 0, nil
	}
	w, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s: annotation %s: want an integer such as -1, 0 or 5, got %q", refOf(o), AnnotationSyncWave, s)
	}
	return w, nil
}

// HookError is a hook that failed: its Job's or pod's reason.
type HookError struct {
	Phase  string
	Ref    Ref
	Reason string
}

func (e *HookError) Error() string {
	return fmt.Sprintf("%s hook %s failed: %s", e.Phase, e.Ref, e.Reason)
}

// PlanOptions tune ApplyPlan.
type PlanOptions struct {
	ApplyOptions
	// RunHooks runs the plan's hooks; without it they are left as they
	// are (a pass over a revision already applied runs none).
	RunHooks bool
}

type wave struct {
	n       int
	objects []*unstructured.Unstructured
	hooks   []Hook
}

// ApplyPlan applies a plan as Argo CD syncs: PreSync hooks first, each
// waited on to succeed before anything else is written; then the objects
// wave by wave, each wave healthy before the next (a wave's Sync hooks run
// once its objects are applied); then PostSync hooks once everything is
// healthy. A failed hook stops the pass there with a *HookError. The
// statuses are those of what the pass got to, hooks included.
func (c *Cluster) ApplyPlan(ctx context.Context, owner Owner, p Plan, opts PlanOptions) ([]ObjectStatus, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	hooks := map[string][]Hook{}
	for _, h := range p.Hooks {
		hooks[h.Phase] = append(hooks[h.Phase], h)
	}
	var out []ObjectStatus
	if !opts.RunHooks {
		for _, h := range p.Hooks {
			out = append(out, ObjectStatus{Ref: refOf(h.Object), Hook: h.Phase, Action: "skipped", Message: "hooks run once per new revision"})
		}
		hooks = nil
	}
	runHooks := func(hs []Hook) error {
		slices.SortStableFunc(hs, func(a, b Hook) int { return cmp.Compare(a.Wave, b.Wave) })
		for _, h := range hs {
			st, err := c.runHook(ctx, owner, h, opts.Timeout)
			out = append(out, st)
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := runHooks(hooks[PreSync]); err != nil {
		return out, err
	}
	waves := wavesOf(p.Objects, hooks[Sync])
	for i, w := range waves {
		last := i == len(waves)-1
		if len(w.objects) > 0 {
			wait := !last || opts.Wait || len(hooks[PostSync]) > 0 || len(w.hooks) > 0
			st, err := c.Apply(ctx, owner, w.objects, ApplyOptions{Timeout: opts.Timeout, Wait: wait})
			out = append(out, st...)
			if err != nil && len(waves) > 1 {
				err = fmt.Errorf("wave %d: %w", w.n, err)
			}
			if err != nil {
				return out, err
			}
		}
		if err := runHooks(w.hooks); err != nil {
			return out, err
		}
	}
	if err := runHooks(hooks[PostSync]); err != nil {
		return out, err
	}
	return out, nil
}

// wavesOf groups objects and Sync hooks by wave, lowest first.
func wavesOf(objects []*unstructured.Unstructured, hooks []Hook) []wave {
	by := map[int]*wave{}
	get := func(n int) *wave {
		if by[n] == nil {
			by[n] = &wave{n: n}
		}
		return by[n]
	}
	for _, o := range objects {
		n, _ := waveOf(o) // NewPlan checked it
		get(n).objects = append(get(n).objects, o)
	}
	for _, h := range hooks {
		get(h.Wave).hooks = append(get(h.Wave).hooks, h)
	}
	var out []wave
	for _, n := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[n])
	}
	return out
}

// runHook creates the hook afresh and waits for it to complete.
func (c *Cluster) runHook(ctx context.Context, owner Owner, h Hook, timeout time.Duration) (ObjectStatus, error) {
	u := h.Object
	st := ObjectStatus{Ref: refOf(u), Hook: h.Phase}
	fail := func(reason string) (ObjectStatus, error) {
		st.Health, st.Message = "Failed", reason
		return st, &HookError{Phase: h.Phase, Ref: st.Ref, Reason: reason}
	}
	utils.SetCommonMetadata([]*unstructured.Unstructured{u}, owner.labels(), nil)
	existing := &unstructured.Unstructured{}
	existing.SetGroupVersionKind(u.GroupVersionKind())
	err := c.Client.Get(ctx, client.ObjectKeyFromObject(u), existing)
	switch {
	case err == nil && slices.Contains(h.Policies, BeforeHookCreation):
		if err := c.deleteHook(ctx, u, metav1.DeletePropagationForeground); err != nil {
			return fail(err.Error())
		}
		if err := c.manager(c.Client).WaitForTermination([]*unstructured.Unstructured{u}, ssa.WaitOptions{Interval: 200 * time.Millisecond, Timeout: timeout}); err != nil {
			return fail(err.Error())
		}
	case err == nil:
		return fail(fmt.Sprintf("it exists from an earlier run and its %s has no %s: delete it, or add %s", AnnotationHookDeletePolicy, BeforeHookCreation, BeforeHookCreation))
	case !apierrors.IsNotFound(err):
		return fail(err.Error())
	}
	entry, err := c.manager(c.Client).Apply(ctx, u, ssa.DefaultApplyOptions())
	if err != nil {
		return fail(err.Error())
	}
	st.Action = string(entry.Action)
	werr := c.manager(c.Client).WaitForSetWithContext(ctx, object.ObjMetadataSet{entry.ObjMetadata}, ssa.WaitOptions{
		Interval: 500 * time.Millisecond, Timeout: timeout, FailFast: true,
		JobsWithTTL: utils.ExtractJobsWithTTL([]*unstructured.Unstructured{u}),
	})
	if werr != nil {
		reason := c.whyFailed(ctx, u, werr)
		if slices.Contains(h.Policies, HookFailed) {
			if err := c.deleteHook(ctx, u, metav1.DeletePropagationBackground); err != nil {
				reason += "; " + err.Error()
			}
		}
		return fail(reason)
	}
	st.Health = "Current"
	if slices.Contains(h.Policies, HookSucceeded) {
		if err := c.deleteHook(ctx, u, metav1.DeletePropagationBackground); err != nil {
			return fail(err.Error())
		}
		st.Message = "succeeded; deleted (" + HookSucceeded + ")"
	} else {
		st.Message = "succeeded"
	}
	return st, nil
}

// deleteHook deletes a hook with its pods (a Job's default would orphan
// them).
func (c *Cluster) deleteHook(ctx context.Context, u *unstructured.Unstructured, propagation metav1.DeletionPropagation) error {
	opts := ssa.DefaultDeleteOptions()
	opts.PropagationPolicy = propagation
	_, err := c.manager(c.Client).Delete(ctx, u, opts)
	return err
}

// whyFailed tells why a hook did not complete: for a Job, its failed
// condition and what its pods' containers say (exit code, image not
// present...), which the wait's error lacks.
func (c *Cluster) whyFailed(ctx context.Context, u *unstructured.Unstructured, werr error) string {
	if u.GroupVersionKind().GroupKind().String() != "Job.batch" {
		return werr.Error()
	}
	var job batchv1.Job
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(u), &job); err != nil {
		return werr.Error()
	}
	var parts []string
	for _, cond := range job.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
			parts = append(parts, fmt.Sprintf("%s: %s", cond.Reason, cond.Message))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, werr.Error())
	}
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job.Name}); err == nil {
		for _, pod := range pods.Items {
			if why := podReason(pod); why != "" {
				parts = append(parts, "pod "+pod.Name+": "+why)
			}
		}
	}
	return strings.Join(parts, "; ")
}

// podReason is what a pod's containers say of why it did not complete.
func podReason(pod corev1.Pod) string {
	var out []string
	for _, cs := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			t := cs.State.Terminated
			s := fmt.Sprintf("container %s: %s (exit code %d)", cs.Name, t.Reason, t.ExitCode)
			if m := strings.TrimSpace(t.Message); m != "" {
				s += ": " + m
			}
			out = append(out, s)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating":
			out = append(out, fmt.Sprintf("container %s: %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		}
	}
	if len(out) == 0 && pod.Status.Reason != "" {
		out = append(out, pod.Status.Reason+": "+pod.Status.Message)
	}
	return strings.Join(out, ", ")
}

// HealthError is an apply whose objects were written but did not become
// healthy in time.
type HealthError struct{ Err error }

func (e *HealthError) Error() string { return "health check: " + e.Err.Error() }
func (e *HealthError) Unwrap() error { return e.Err }

// IsHealthError tells a health failure from a refused apply.
func IsHealthError(err error) bool {
	var h *HealthError
	return errors.As(err, &h)
}
