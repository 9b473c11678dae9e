package kubernetes

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// fatalWaiting are the reasons of a waiting container that will not start
// by waiting longer.
var fatalWaiting = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// start creates the job's pod and waits until its build and helper
// containers run, at most StartTimeout; a pod still unscheduled then fails
// with the scheduler's reason.
func (j *job) start(ctx context.Context) error {
	pod, err := j.pod()
	if err != nil {
		return err
	}
	fmt.Fprintf(j.out, "Using Kubernetes namespace %s, pod %s\n", j.opts.Namespace, j.name)
	// Created even when ctx ends during the calls, so that cleanup deletes them.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	if secret := j.registrySecret(pod); secret != nil {
		j.secret = secret.Name
		if _, err := j.cs.CoreV1().Secrets(j.opts.Namespace).Create(bctx, secret, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create the registry secret %s: %w", secret.Name, err)
		}
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: secret.Name})
	}
	j.created = true
	created, err := j.cs.CoreV1().Pods(j.opts.Namespace).Create(bctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod %s: %w", j.name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, j.opts.StartTimeout)
	defer cancel()
	last := created
	rv := created.ResourceVersion
	for {
		if done, err := j.started(last); done || err != nil {
			return err
		}
		w, err := j.cs.CoreV1().Pods(j.opts.Namespace).Watch(wctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", j.name).String(),
			ResourceVersion: rv,
		})
		if err != nil {
			if wctx.Err() != nil {
				return j.notStarted(ctx, last)
			}
			return fmt.Errorf("watch pod %s: %w", j.name, err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				w.Stop()
				return fmt.Errorf("pod %s was deleted before the job ran", j.name)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				break // an error event: watch again from the last version
			}
			last, rv = p, p.ResourceVersion
			if done, err := j.started(p); done || err != nil {
				w.Stop()
				return err
			}
		}
		w.Stop()
		if wctx.Err() != nil {
			return j.notStarted(ctx, last)
		}
	}
}

// started says whether the build and helper containers of p run, or why
// they never will.
func (j *job) started(p *corev1.Pod) (bool, error) {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("pod %s ended before the job ran: %s", j.name, podProblem(p))
	}
	running := 0
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] {
			return false, fmt.Errorf("container %s (%s): %s: %s", cs.Name, cs.Image, w.Reason, w.Message)
		}
		if cs.Name != buildContainer && cs.Name != helperContainer {
			continue
		}
		if t := cs.State.Terminated; t != nil {
			hint := ""
			if cs.Name == buildContainer {
				hint = " (the image needs a shell, sh, that waits on its input)"
			}
			return false, fmt.Errorf("container %s ended before the job ran: exit code %d, %s %s%s", cs.Name, t.ExitCode, t.Reason, t.Message, hint)
		}
		if cs.State.Running != nil {
			running++
		}
	}
	return running == 2, nil
}

// notStarted is the error of a pod that did not start in time (or ctx's).
func (j *job) notStarted(ctx context.Context, p *corev1.Pod) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("pod %s did not start within %s: %s", j.name, j.opts.StartTimeout, podProblem(p))
}

// podProblem says why a pod does not run: the scheduler's reason while it
// is not scheduled, else its containers' waiting or terminated states.
func podProblem(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("not scheduled: %s: %s", c.Reason, c.Message)
		}
	}
	var parts []string
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("%s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("%s ended: exit code %d %s", cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason))
		}
	}
	if len(parts) == 0 {
		return "phase " + string(p.Status.Phase)
	}
	return strings.Join(parts, "; ")
}
