package kubernetes

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// registrySecret is a Secret that lets the node pull the pod's images from
// Slipway's registry with the job's own credentials (CI_REGISTRY_USER and
// CI_REGISTRY_PASSWORD, the job's token, valid while its pipeline runs),
// or nil when no image of the pod is in that registry.
func (j *job) registrySecret(pod *corev1.Pod) *corev1.Secret {
	host, user, pass := j.env["CI_REGISTRY"], j.env["CI_REGISTRY_USER"], j.env["CI_REGISTRY_PASSWORD"]
	if host == "" || pass == "" {
		return nil
	}
	needed := false
	for _, c := range pod.Spec.Containers {
		needed = needed || strings.HasPrefix(c.Image, host+"/")
	}
	if !needed {
		return nil
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	data, _ := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"username": user, "password": pass, "auth": auth},
	}})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: j.name + "-registry", Namespace: j.opts.Namespace,
			Labels: pod.Labels, Annotations: pod.Annotations,
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: data},
	}
}
