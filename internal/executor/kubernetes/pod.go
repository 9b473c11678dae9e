package kubernetes

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes/helper"
	"github.com/slipway-cd/slipway/internal/owner"
	"github.com/slipway-cd/slipway/internal/slug"
)

// Labels and annotations on every pod the executor creates.
const (
	LabelManaged      = "slipway.managed" // "true"
	LabelJob          = "slipway.job"     // Spec.ID: slipway-<pipeline>-<job>
	LabelInstallation = "slipway.installation"
	// AnnotationOwner is owner.This() of the process that made the pod
	// (not a valid label value); AnnotationJobName the job's name.
	AnnotationOwner        = "slipway.owner"
	AnnotationJobName      = "slipway.job.name"
	AnnotationInstallation = "slipway.installation"
)

// Container names in a job's pod; services are svc-0, svc-1...
const (
	buildContainer  = "build"
	helperContainer = "helper"
	buildsVolume    = "builds"
	// scriptsDir, under BuildsDir, holds the job's scripts: beside the
	// working copy, not in it, so they never become artifacts.
	scriptsDir = "slipway-scripts"
)

// configError is a mistake in the job's configuration, not a failure of
// the executor: it is not a runner system failure.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// podName is unique per attempt: two Slipways may share a namespace and
// use the same job IDs.
func podName(id string) string {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	base := slug.Label(strings.TrimPrefix(id, "slipway-"))
	if len(base) > 40 {
		base = base[:40]
	}
	return strings.Trim("slipway-"+base, "-") + "-" + hex.EncodeToString(suffix[:])
}

// installationLabel fits any installation name into a label value.
func installationLabel(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:8])
}

// pod is the pod of one job attempt.
func (j *job) pod() (*corev1.Pod, error) {
	o := j.opts
	image, err := j.image()
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range o.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelJob] = slug.Label(j.spec.ID)
	labels[LabelInstallation] = installationLabel(o.Installation)
	annotations := map[string]string{}
	for k, v := range o.Annotations {
		annotations[k] = v
	}
	annotations[AnnotationOwner] = owner.This()
	annotations[AnnotationJobName] = j.spec.JobName
	annotations[AnnotationInstallation] = o.Installation

	buildRes, err := o.requirements("build", j.env)
	if err != nil {
		return nil, configError{err}
	}
	helperRes, err := o.requirements("helper", j.env)
	if err != nil {
		return nil, configError{err}
	}
	mount := []corev1.VolumeMount{{Name: buildsVolume, MountPath: o.BuildsDir}}
	build := corev1.Container{
		Name:            buildContainer,
		Image:           image,
		ImagePullPolicy: corev1.PullPolicy(o.PullPolicy),
		// The shell waits on its open stdin while scripts run through exec,
		// as GitLab's build container does; no other tool is needed.
		Stdin:        true,
		VolumeMounts: mount,
		Resources:    buildRes,
	}
	build.Command, build.Args = j.buildCommand()
	helperC := corev1.Container{
		Name:  helperContainer,
		Image: o.HelperImage,
		// Its tag names its content (helper.Image): never worth a pull again.
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{helper.BinaryPath, helper.Command, "pause"},
		VolumeMounts:    mount,
		Resources:       helperRes,
	}
	containers := []corev1.Container{build, helperC}
	var hosts []string
	for i, s := range j.spec.Services {
		c, aliases, err := j.service(i, s)
		if err != nil {
			return nil, err
		}
		containers = append(containers, c)
		hosts = append(hosts, aliases...)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: j.name, Namespace: o.Namespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			Containers:                    containers,
			Volumes:                       []corev1.Volume{{Name: buildsVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			NodeSelector:                  o.NodeSelector,
			ServiceAccountName:            o.ServiceAccount,
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	// A job only gets API credentials when a service account is configured.
	if o.ServiceAccount == "" {
		pod.Spec.AutomountServiceAccountToken = new(bool)
	}
	if len(hosts) > 0 {
		pod.Spec.HostAliases = []corev1.HostAlias{{IP: "127.0.0.1", Hostnames: hosts}}
	}
	for _, s := range o.ImagePullSecrets {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	for _, t := range o.Tolerations {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
		})
	}
	return pod, nil
}

// image is the job's image, or the executor's default.
func (j *job) image() (string, error) {
	img := j.spec.Image
	if img == nil || img.Name == "" {
		if j.opts.Image == "" {
			return "", configError{errors.New("the job has no image: and the kubernetes executor has no default image")}
		}
		return j.opts.Image, nil
	}
	name := j.expand(img.Name)
	if name == "" {
		return "", configError{fmt.Errorf("image:name %q expands to nothing", img.Name)}
	}
	return name, nil
}

// buildCommand follows GitLab's rules for the build container: the
// image's ENTRYPOINT is replaced by the shell, unless image:entrypoint
// names one (it then runs the shell) or FF_KUBERNETES_HONOR_ENTRYPOINT
// keeps the image's.
func (j *job) buildCommand() (command, args []string) {
	shell := []string{"sh"}
	var entrypoint []string
	if j.spec.Image != nil && !(len(j.spec.Image.Entrypoint) == 1 && j.spec.Image.Entrypoint[0] == "") {
		entrypoint = j.spec.Image.Entrypoint
	}
	switch {
	case len(entrypoint) > 0:
		return entrypoint, shell
	case j.env["FF_KUBERNETES_HONOR_ENTRYPOINT"] == "true":
		return nil, shell
	}
	return shell, nil
}

// service is the container of services[i] and the host names it answers
// to. Kubernetes only takes DNS names as host aliases, so GitLab's
// "a__b" form of an image path is left out.
func (j *job) service(i int, s ci.Service) (corev1.Container, []string, error) {
	s.Name = j.expand(s.Name)
	if s.Name == "" {
		return corev1.Container{}, nil, configError{fmt.Errorf("services[%d]: name is empty", i)}
	}
	res, err := j.opts.requirements("service", j.env)
	if err != nil {
		return corev1.Container{}, nil, configError{err}
	}
	env := make([]corev1.EnvVar, 0, len(j.spec.Env)+len(s.Variables))
	for _, kv := range j.spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	for _, v := range s.Variables {
		val := v.Value
		if !v.Raw {
			val = j.expand(val)
		}
		env = append(env, corev1.EnvVar{Name: v.Name, Value: val})
	}
	var hosts []string
	for _, a := range executor.ServiceAliases(s) {
		if len(validation.IsDNS1123Subdomain(a)) == 0 {
			hosts = append(hosts, a)
		}
	}
	fmt.Fprintf(j.out, "Starting service %s as %s\n", s.Name, strings.Join(append(hosts, "localhost"), ", "))
	return corev1.Container{
		Name:            fmt.Sprintf("svc-%d", i),
		Image:           s.Name,
		ImagePullPolicy: corev1.PullPolicy(j.opts.PullPolicy),
		Command:         s.Entrypoint,
		Args:            s.Command,
		Env:             env,
		Resources:       res,
	}, hosts, nil
}

// scriptPath is where a script of the job is in the pod.
func (j *job) scriptPath(name string) string {
	return path.Join(j.opts.BuildsDir, scriptsDir, name)
}
