package kubehost

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/slipway-cd/slipway/internal/env/compose"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/proxy"
)

// offline is a client of no cluster: these tests build objects only.
func offline() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(&rest.Config{Host: "http://127.0.0.1:1"})
}

func newHost(t *testing.T, opts Options) *Host {
	t.Helper()
	opts.Client = offline()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNamespaceIsADNSLabelAndLongKeysStayApart(t *testing.T) {
	h := newHost(t, Options{Installation: "abc123"})
	if got := h.Namespace("abc123-p1-review-feat-x-q1w2e3"); got != "slipway-abc123-p1-review-feat-x-q1w2e3" {
		t.Errorf("namespace = %s", got)
	}
	long1 := "abc123-p1-" + strings.Repeat("a", 60) + "-one"
	long2 := "abc123-p1-" + strings.Repeat("a", 60) + "-two"
	n1, n2 := h.Namespace(long1), h.Namespace(long2)
	if len(n1) > 63 || len(n2) > 63 || n1 == n2 || strings.HasSuffix(n1, "-") {
		t.Errorf("namespaces of long keys: %s (%d), %s (%d): want distinct DNS labels", n1, len(n1), n2, len(n2))
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, opts := range []Options{{Installation: "Not A Slug"}, {NamespacePrefix: "UPPER-"}, {NamespacePrefix: strings.Repeat("x", 31)}} {
		opts.Client = offline()
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v): want an error", opts)
		}
	}
}

func TestDeploymentMapsTheComposeService(t *testing.T) {
	h := newHost(t, Options{Installation: "inst"})
	spec := dockerhost.Spec{Env: "p1-review", Name: "review/x", Vars: map[string]string{"A": "from-vars", "B": "b"}}
	svc := compose.Service{
		Name: "Web_App", Image: "img", Entrypoint: []string{"/bin/sh"}, Command: []string{"-c", "run"},
		Env: map[string]string{"A": "own"}, WorkingDir: "/srv", User: "1000",
		Expose: true, Port: 8080, Health: "/healthz", MemoryBytes: 64 << 20, NanoCPUs: 500_000_000,
	}
	meta := h.objectMeta(spec, "ns", svc, 3, "web.example.test")
	d, err := h.deployment(meta, spec, svc, "img@sha256:abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Name != "web-app-g3" || meta.Labels[LabelInstallation] != "inst" || meta.Labels[LabelEnv] != "p1-review" ||
		meta.Labels[LabelGeneration] != "3" || meta.Labels[LabelService] != "web-app" || meta.Annotations[AnnotationHost] != "web.example.test" {
		t.Errorf("metadata = %+v", meta)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "img@sha256:abc" || c.Command[0] != "/bin/sh" || c.Args[1] != "run" || c.WorkingDir != "/srv" {
		t.Errorf("container = %+v", c)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["A"] != "own" || env["B"] != "b" {
		t.Errorf("env = %v: want the service's own to win", env)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("readiness probe = %+v", p)
	}
	if m, cpu := c.Resources.Limits[corev1.ResourceMemory], c.Resources.Limits[corev1.ResourceCPU]; m.Value() != 64<<20 || cpu.MilliValue() != 500 {
		t.Errorf("limits = %v", c.Resources.Limits)
	}
	if u := d.Spec.Template.Spec.SecurityContext; u == nil || *u.RunAsUser != 1000 {
		t.Errorf("security context = %+v", u)
	}
	svc.User = "app"
	if _, err := h.deployment(meta, spec, svc, "img", nil); err == nil || !strings.Contains(err.Error(), "numeric") {
		t.Errorf("user app: %v, want an error naming a numeric id", err)
	}
	svc.Health = ""
	if p := readiness(svc); p.TCPSocket == nil {
		t.Errorf("readiness without a health path = %+v, want a TCP check", p)
	}
}

func TestFilesBecomeAConfigMapMountedByPath(t *testing.T) {
	h := newHost(t, Options{})
	spec := dockerhost.Spec{Env: "e", Files: []compose.File{{Path: "/etc/a.conf", Content: []byte("a")}}}
	svc := compose.Service{Name: "web", Image: "img", Files: []compose.File{{Path: "/srv/b", Content: []byte("b")}}}
	meta := h.objectMeta(spec, "ns", svc, 1, "")
	cm := filesConfigMap(meta, spec, svc)
	d, err := h.deployment(meta, spec, svc, "img", cm)
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.MountPath] = string(cm.BinaryData[m.SubPath])
	}
	if mounts["/etc/a.conf"] != "a" || mounts["/srv/b"] != "b" {
		t.Errorf("files mounted: %v", mounts)
	}
	if meta.Annotations[fileAnnotation("f0")] != "" {
		t.Error("the ConfigMap's annotations leaked into the Deployment's")
	}
}

func ptr[T any](v T) *T { return &v }

func TestReadyAddrsSkipsUnreadyAndTerminating(t *testing.T) {
	eps := []discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
		{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
		{Addresses: []string{"10.0.0.1"}},
		{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
		{Addresses: []string{"10.0.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Terminating: ptr(true)}},
	}}}
	got := readyAddrs(eps)
	if strings.Join(got, ",") != "10.0.0.1,10.0.0.3" {
		t.Errorf("ready addresses = %v", got)
	}
	if all := allAddrs(eps); len(all) != 4 {
		t.Errorf("all addresses = %v", all)
	}
}

func TestUpstreamsFollowAVersionsAddresses(t *testing.T) {
	rt := proxy.Route{ID: "slipway-e--web", Hosts: []string{"e.test"}, Upstreams: []proxy.Upstream{
		{Addr: "10.0.0.1:80", Weight: 80, Version: "1"},
		{Addr: "10.0.0.2:80", Weight: 20, Version: "2"},
	}}
	next, changed := Upstreams(rt, "2", 80, []string{"10.0.0.9"})
	if !changed || len(next.Upstreams) != 2 || next.Upstreams[1] != (proxy.Upstream{Addr: "10.0.0.9:80", Weight: 20, Version: "2"}) || next.Upstreams[0] != rt.Upstreams[0] {
		t.Errorf("new address of version 2: %+v, %v", next.Upstreams, changed)
	}
	if _, changed := Upstreams(rt, "2", 80, []string{"10.0.0.2"}); changed {
		t.Error("same address: want no change")
	}
	if _, changed := Upstreams(rt, "3", 80, []string{"10.0.0.3"}); changed {
		t.Error("a version the route does not send to: want no change")
	}
	if next, changed := Upstreams(rt, "2", 80, nil); !changed || len(next.Upstreams) != 1 || next.Upstreams[0].Version != "1" {
		t.Errorf("version 2 with no ready pod: %+v, want only version 1 left", next.Upstreams)
	}
	one := proxy.Route{ID: rt.ID, Hosts: rt.Hosts, Upstreams: rt.Upstreams[:1]}
	if next, changed := Upstreams(one, "1", 80, nil); changed || len(next.Upstreams) != 1 {
		t.Errorf("the only version with no ready pod: %+v, want the route kept", next.Upstreams)
	}
}
