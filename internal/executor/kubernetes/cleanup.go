package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/slipway-cd/slipway/internal/owner"
)

// CleanupLeftovers deletes the pods (and registry secrets) in namespace
// that a Slipway process which is gone left behind: those labelled
// LabelManaged whose
// AnnotationOwner names a process of this host that no longer runs (the
// rule the Docker executor follows for its containers). Pods of live
// processes, other Slipways sharing the namespace included, are left alone.
func CleanupLeftovers(ctx context.Context, cs k8s.Interface, namespace string) error {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManaged + "=true"})
	if err != nil {
		return fmt.Errorf("list pods of namespace %s: %w", namespace, err)
	}
	var errs []error
	for _, p := range pods.Items {
		if !owner.Gone(p.Annotations[AnnotationOwner]) {
			continue
		}
		if err := deletePod(ctx, cs, namespace, p.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		slog.Info("kubernetes: deleted leftover pod", "pod", p.Name, "job", p.Annotations[AnnotationJobName], "owner", p.Annotations[AnnotationOwner])
	}
	secrets, err := cs.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManaged + "=true"})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list secrets of namespace %s: %w", namespace, err))...)
	}
	for _, s := range secrets.Items {
		if !owner.Gone(s.Annotations[AnnotationOwner]) {
			continue
		}
		if err := deleteSecret(ctx, cs, namespace, s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func deleteSecret(ctx context.Context, cs k8s.Interface, namespace, name string) error {
	err := cs.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// deletePod deletes a pod at once (no grace period: whatever the job runs
// ends with it); one already gone is not an error.
func deletePod(ctx context.Context, cs k8s.Interface, namespace, name string) error {
	err := cs.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	return nil
}

// Cleanup is CleanupLeftovers in the namespace opts configure.
func Cleanup(ctx context.Context, opts Options) error {
	cfg, ns, err := restConfig(opts)
	if err != nil {
		return err
	}
	if opts.Namespace == "" {
		opts.Namespace = ns
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return CleanupLeftovers(ctx, cs, opts.Namespace)
}
