package kubehost

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/slug"
)

// objectName is a service's Deployment, Service and ConfigMap in one
// generation: "<service>-g<gen>", a DNS label.
func objectName(service string, gen int) string {
	return shortLabel(fmt.Sprintf("%s-g%d", serviceKey(service), gen))
}

// serviceKey is a Compose service name as it appears in labels.
func serviceKey(service string) string { return slug.Label(service) }

// objectMeta is the metadata of one object of a service's generation.
func (h *Host) objectMeta(spec dockerhost.Spec, ns string, svc compose.Service, gen int, host string) metav1.ObjectMeta {
	ann := map[string]string{AnnotationServiceName: svc.Name}
	if spec.Name != "" {
		ann[AnnotationEnvName] = spec.Name
	}
	if host != "" {
		ann[AnnotationHost] = host
	}
	return metav1.ObjectMeta{
		Name:        objectName(svc.Name, gen),
		Namespace:   ns,
		Labels:      h.labels(spec, LabelService, serviceKey(svc.Name), LabelGeneration, strconv.Itoa(gen)),
		Annotations: ann,
	}
}

// labels are the labels of an object of spec's environment: the caller's,
// then Slipway's, which win.
func (h *Host) labels(spec dockerhost.Spec, kv ...string) map[string]string {
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	if h.opts.Installation != "" {
		l[LabelInstallation] = h.opts.Installation
	}
	l[LabelEnv] = shortLabel(spec.Env)
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// namespace is the environment's namespace object.
func (h *Host) namespace(spec dockerhost.Spec) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.Namespace(spec.Env), Labels: h.labels(spec)}}
	if spec.Name != "" {
		ns.Annotations = map[string]string{AnnotationEnvName: spec.Name}
	}
	return ns
}

// deployment runs svc in generation gen: one replica of image (pinned),
// the Compose file's command, environment and limits, and for an exposed
// service its port with the health check as the readiness probe.
func (h *Host) deployment(meta metav1.ObjectMeta, spec dockerhost.Spec, svc compose.Service, image string, files *corev1.ConfigMap) (*appsv1.Deployment, error) {
	c := corev1.Container{
		Name:            "app",
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         svc.Entrypoint,
		Args:            svc.Command,
		Env:             environ(spec.Vars, svc.Env),
		WorkingDir:      svc.WorkingDir,
	}
	var podSec *corev1.PodSecurityContext
	if svc.User != "" {
		uid, err := strconv.ParseInt(svc.User, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("service %s: user %q: Kubernetes takes a numeric user id", svc.Name, svc.User)
		}
		podSec = &corev1.PodSecurityContext{RunAsUser: &uid}
	}
	if svc.MemoryBytes > 0 || svc.NanoCPUs > 0 {
		c.Resources.Limits = corev1.ResourceList{}
		if svc.MemoryBytes > 0 {
			c.Resources.Limits[corev1.ResourceMemory] = *resource.NewQuantity(svc.MemoryBytes, resource.BinarySI)
		}
		if svc.NanoCPUs > 0 {
			c.Resources.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(max(svc.NanoCPUs/1e6, 1), resource.DecimalSI)
		}
	}
	if svc.Expose {
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(svc.Port), Protocol: corev1.ProtocolTCP}}
		c.ReadinessProbe = readiness(svc)
	}
	var volumes []corev1.Volume
	// Named volumes live as long as the pod: a cluster may have no storage
	// class, and two generations run side by side.
	seen := map[string]bool{}
	for _, m := range svc.Mounts {
		name := shortLabel("vol-" + slug.Label(m.Volume))
		if !seen[name] {
			seen[name] = true
			volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m.Target, ReadOnly: m.ReadOnly})
	}
	if files != nil {
		volumes = append(volumes, corev1.Volume{Name: "slipway-files", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: files.Name}}}})
		for _, key := range slices.Sorted(maps.Keys(files.BinaryData)) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "slipway-files", MountPath: files.Annotations[fileAnnotation(key)], SubPath: key, ReadOnly: true})
		}
	}
	grace := int64(h.opts.StopTimeout.Seconds())
	one := int32(1)
	podLabels := maps.Clone(meta.Labels)
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(meta.Labels)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: meta.Annotations},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{c},
					Volumes:                       volumes,
					SecurityContext:               podSec,
					TerminationGracePeriodSeconds: &grace,
					// No service links: their variables would shadow the
					// Compose file's, and they grow with the namespace.
					EnableServiceLinks: new(bool),
				},
			},
		},
	}, nil
}

// selectorLabels pick a generation's pods of one service.
func selectorLabels(l map[string]string) map[string]string {
	return map[string]string{LabelEnv: l[LabelEnv], LabelService: l[LabelService], LabelGeneration: l[LabelGeneration]}
}

// readiness is the health check of an exposed service as a probe: GET of
// its health path, or a TCP connection without one (as on a Docker host).
func readiness(svc compose.Service) *corev1.Probe {
	p := &corev1.Probe{PeriodSeconds: 1, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1}
	port := intstr.FromInt32(int32(svc.Port))
	if svc.Health != "" {
		p.HTTPGet = &corev1.HTTPGetAction{Path: svc.Health, Port: port}
	} else {
		p.TCPSocket = &corev1.TCPSocketAction{Port: port}
	}
	return p
}

// service gives an exposed service's generation its EndpointSlices, from
// which the proxy reads the pods' addresses.
func service(meta metav1.ObjectMeta, svc compose.Service) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(meta.Labels),
			Ports:    []corev1.ServicePort{{Name: "http", Port: int32(svc.Port), TargetPort: intstr.FromInt32(int32(svc.Port)), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// fileAnnotation holds the path of the file under key in a files ConfigMap.
func fileAnnotation(key string) string { return "slipway.dev/path-" + key }

// filesConfigMap holds the files written into svc's containers (the
// environment's and its own), nil when there are none.
func filesConfigMap(meta metav1.ObjectMeta, spec dockerhost.Spec, svc compose.Service) *corev1.ConfigMap {
	files := append(slices.Clone(spec.Files), svc.Files...)
	if len(files) == 0 {
		return nil
	}
	meta.Annotations = maps.Clone(meta.Annotations)
	cm := &corev1.ConfigMap{ObjectMeta: meta, BinaryData: map[string][]byte{}}
	for i, f := range files {
		key := "f" + strconv.Itoa(i)
		cm.BinaryData[key] = f.Content
		cm.Annotations[fileAnnotation(key)] = f.Path
	}
	return cm
}

// environ is the container's environment: vars, then the service's own,
// which win; sorted, so a generation's spec does not change by map order.
func environ(vars, own map[string]string) []corev1.EnvVar {
	all := maps.Clone(vars)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, own)
	out := make([]corev1.EnvVar, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		out = append(out, corev1.EnvVar{Name: k, Value: all[k]})
	}
	return out
}
