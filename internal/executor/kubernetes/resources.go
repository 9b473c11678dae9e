package kubernetes

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ContainerResources are the requests and limits of each kind of
// container in a job's pod.
type ContainerResources struct {
	Build   Resources `yaml:"build"`
	Service Resources `yaml:"service"`
	Helper  Resources `yaml:"helper"`
}

// Resources are CPU and memory quantities as Kubernetes writes them
// ("500m", "2", "512Mi"); empty means none.
type Resources struct {
	CPURequest    string `yaml:"cpu_request"`
	CPULimit      string `yaml:"cpu_limit"`
	MemoryRequest string `yaml:"memory_request"`
	MemoryLimit   string `yaml:"memory_limit"`
}

// quantity is one of Resources' fields, with the names that set it.
type quantity struct {
	field    string // YAML field
	variable string // job variable overwriting it, without its KUBERNETES_ prefix
	name     corev1.ResourceName
	limit    bool
	get      func(*Resources) string
}

var quantities = []quantity{
	{"cpu_request", "CPU_REQUEST", corev1.ResourceCPU, false, func(r *Resources) string { return r.CPURequest }},
	{"cpu_limit", "CPU_LIMIT", corev1.ResourceCPU, true, func(r *Resources) string { return r.CPULimit }},
	{"memory_request", "MEMORY_REQUEST", corev1.ResourceMemory, false, func(r *Resources) string { return r.MemoryRequest }},
	{"memory_limit", "MEMORY_LIMIT", corev1.ResourceMemory, true, func(r *Resources) string { return r.MemoryLimit }},
}

// kinds of containers: the YAML field and the variables' infix, as GitLab
// names them (KUBERNETES_CPU_REQUEST, KUBERNETES_SERVICE_CPU_REQUEST,
// KUBERNETES_HELPER_CPU_REQUEST).
var kinds = []struct {
	field, infix string
	get          func(*ContainerResources) *Resources
}{
	{"build", "", func(c *ContainerResources) *Resources { return &c.Build }},
	{"service", "SERVICE_", func(c *ContainerResources) *Resources { return &c.Service }},
	{"helper", "HELPER_", func(c *ContainerResources) *Resources { return &c.Helper }},
}

func (c ContainerResources) check(field string) error {
	for _, k := range kinds {
		r := k.get(&c)
		for _, q := range quantities {
			if v := q.get(r); v != "" {
				if _, err := resource.ParseQuantity(v); err != nil {
					return fmt.Errorf("%s.%s.%s %q: %v", field, k.field, q.field, v, err)
				}
			}
		}
	}
	return nil
}

// requirements are the resources of one kind of container ("build",
// "service", "helper"): the configured ones, overwritten by the job's
// variables where MaxOverwrite allows. A variable above its maximum, or
// set while no maximum is configured, is an error naming it: a job that
// asks for more than it may have should not run with less unnoticed.
func (o *Options) requirements(kind string, env map[string]string) (corev1.ResourceRequirements, error) {
	var req corev1.ResourceRequirements
	for _, k := range kinds {
		if k.field != kind {
			continue
		}
		base, max := k.get(&o.Resources), k.get(&o.MaxOverwrite)
		for _, q := range quantities {
			v := q.get(base)
			variable := "KUBERNETES_" + k.infix + q.variable
			if want, ok := env[variable]; ok && want != "" {
				asked, err := resource.ParseQuantity(want)
				if err != nil {
					return req, fmt.Errorf("%s %q: %v", variable, want, err)
				}
				limit := q.get(max)
				if limit == "" {
					return req, fmt.Errorf("%s: overwriting it is not allowed (max_overwrite.%s.%s is not configured)", variable, k.field, q.field)
				}
				if asked.Cmp(resource.MustParse(limit)) > 0 {
					return req, fmt.Errorf("%s %q: above the allowed maximum %s (max_overwrite.%s.%s)", variable, want, limit, k.field, q.field)
				}
				v = want
			}
			if v == "" {
				continue
			}
			list := &req.Requests
			if q.limit {
				list = &req.Limits
			}
			if *list == nil {
				*list = corev1.ResourceList{}
			}
			(*list)[q.name] = resource.MustParse(v)
		}
	}
	return req, nil
}
