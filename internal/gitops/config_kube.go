package gitops

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-cd/slipway/internal/gitops/helmrelease"
)

// DefaultKubeTimeout bounds a Kubernetes deployment's apply and health
// wait when it sets no timeout, as Flux's default.
const DefaultKubeTimeout = 5 * time.Minute

// Kubernetes sends a deployment to a cluster instead of this Docker host:
// its path is a folder of manifests or a Kustomize overlay. The fields
// follow Flux's Kustomization (spec.kubeConfig, wait, timeout, postBuild),
// so Flux's objects translate to them.
type Kubernetes struct {
	// Kubeconfig is the kubeconfig file, relative to the config file;
	// "" reads $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig's context; "" is its current one.
	Context string
	// InCluster uses the service account of the pod Slipway runs in.
	InCluster bool
	// Namespace is given to namespaced objects that name none; "default"
	// when unset.
	Namespace string
	// Wait waits for every applied object to be healthy (kstatus Current)
	// before the deployment is Ready; on by default.
	Wait bool
	// Timeout bounds a pass's apply and wait.
	Timeout time.Duration
	// PostBuild substitutes ${VAR} in the rendered objects.
	PostBuild *PostBuild
	// HelmRegistries are the hosts of its Helm releases' charts (OCI
	// registries, HTTP repositories) that need credentials or plain HTTP.
	HelmRegistries []HelmRegistry
}

// HelmRegistry is one chart host. Credentials stay out of git: the
// config names the variable holding them, and they go to this host only.
type HelmRegistry struct {
	// Host is host[:port], as in oci://host/... or https://host/...
	Host string
	// CredentialsRef is env:NAME, NAME holding user:password.
	CredentialsRef string
	// PlainHTTP reaches an OCI registry without TLS; loopback hosts
	// always are.
	PlainHTTP bool
}

// PostBuild is Flux's post-build variable substitution.
type PostBuild struct {
	// Substitute are values given inline; they win over SubstituteFrom.
	Substitute map[string]string
	// SubstituteFrom are ConfigMaps and Secrets of the target namespace
	// whose keys are values; later ones win.
	SubstituteFrom []ValuesRef
}

// ValuesRef names a ConfigMap or Secret in the cluster.
type ValuesRef struct {
	Kind, Name string
	// Optional: a missing object gives no values instead of an error.
	Optional bool
}

// kubernetes reads a deployment's kubernetes block.
func (d *decoder) kubernetes(n *yaml.Node, field string) (*Kubernetes, error) {
	k := &Kubernetes{Wait: true, Timeout: DefaultKubeTimeout}
	err := d.mapping(n, field, func(key string, kn, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "kubeconfig":
			k.Kubeconfig, err = d.str(v, f)
			if err == nil && k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
				k.Kubeconfig = filepath.Join(filepath.Dir(d.file), k.Kubeconfig)
			}
		case "context":
			k.Context, err = d.str(v, f)
		case "inCluster":
			k.InCluster, err = d.boolean(v, f)
		case "namespace":
			k.Namespace, err = d.str(v, f)
			if err == nil && len(validation.IsDNS1123Label(k.Namespace)) > 0 {
				err = d.errf(v, f, "want a namespace name (lower-case letters, digits, inner dashes, at most 63), got %q", k.Namespace)
			}
		case "wait":
			k.Wait, err = d.boolean(v, f)
		case "timeout":
			k.Timeout, err = d.duration(v, f)
		case "postBuild":
			k.PostBuild, err = d.postBuild(v, f)
		case "helmRegistries":
			err = d.list(v, f, func(lf string, ln *yaml.Node) error {
				hr, err := d.helmRegistry(ln, lf)
				k.HelmRegistries = append(k.HelmRegistries, hr)
				return err
			})
		default:
			err = d.errf(kn, f, "unknown key (want kubeconfig, context, inCluster, namespace, wait, timeout, postBuild, helmRegistries)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if k.InCluster && (k.Kubeconfig != "" || k.Context != "") {
		return nil, d.errf(n, field+".inCluster", "inCluster takes no kubeconfig or context")
	}
	return k, nil
}

// postBuild reads a deployment's postBuild block.
func (d *decoder) postBuild(n *yaml.Node, field string) (*PostBuild, error) {
	pb := &PostBuild{Substitute: map[string]string{}}
	err := d.mapping(n, field, func(key string, kn, v *yaml.Node) error {
		f := field + "." + key
		switch key {
		case "substitute":
			return d.mapping(v, f, func(name string, nk, nv *yaml.Node) error {
				if !isVarName(name) {
					return d.errf(nk, f+"."+name, "want a variable name (letters, digits, _; not starting with a digit)")
				}
				s, err := d.str(nv, f+"."+name)
				pb.Substitute[name] = s
				return err
			})
		case "substituteFrom":
			return d.list(v, f, func(lf string, ln *yaml.Node) error {
				ref, err := d.valuesRef(ln, lf)
				pb.SubstituteFrom = append(pb.SubstituteFrom, ref)
				return err
			})
		}
		return d.errf(kn, f, "unknown key (want substitute, substituteFrom)")
	})
	return pb, err
}

func (d *decoder) helmRegistry(n *yaml.Node, field string) (HelmRegistry, error) {
	var r HelmRegistry
	err := d.mapping(n, field, func(key string, kn, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "host":
			r.Host, err = d.str(v, f)
			if err == nil && (r.Host == "" || strings.ContainsAny(r.Host, "/ ")) {
				err = d.errf(v, f, "want host or host:port (no scheme, no path), got %q", r.Host)
			}
		case "credentials_ref":
			r.CredentialsRef, err = d.str(v, f)
			if name, ok := strings.CutPrefix(r.CredentialsRef, "env:"); err == nil && (!ok || name == "") {
				err = d.errf(v, f, "want env:NAME, NAME a variable holding user:password, got %q", r.CredentialsRef)
			}
		case "plainHTTP":
			r.PlainHTTP, err = d.boolean(v, f)
		default:
			err = d.errf(kn, f, "unknown key (want host, credentials_ref, plainHTTP)")
		}
		return err
	})
	if err == nil && r.Host == "" {
		err = d.errf(n, field+".host", "required")
	}
	return r, err
}

// helmHosts reads the credentials of the chart hosts from the variables
// the config names; errors name the variable, never its value.
func (k *Kubernetes) helmHosts(getenv func(string) string) (map[string]helmrelease.Host, error) {
	hosts := map[string]helmrelease.Host{}
	for _, r := range k.HelmRegistries {
		h := helmrelease.Host{PlainHTTP: r.PlainHTTP}
		if r.CredentialsRef != "" {
			name := strings.TrimPrefix(r.CredentialsRef, "env:")
			v := getenv(name)
			if v == "" {
				return nil, fmt.Errorf("helmRegistries %s: credentials_ref: $%s is not set", r.Host, name)
			}
			var ok bool
			if h.Username, h.Password, ok = strings.Cut(v, ":"); !ok {
				return nil, fmt.Errorf("helmRegistries %s: credentials_ref: want user:password in $%s", r.Host, name)
			}
		}
		hosts[r.Host] = h
	}
	return hosts, nil
}

func (d *decoder) valuesRef(n *yaml.Node, field string) (ValuesRef, error) {
	var r ValuesRef
	err := d.mapping(n, field, func(key string, kn, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "kind":
			r.Kind, err = d.str(v, f)
			if err == nil && r.Kind != "ConfigMap" && r.Kind != "Secret" {
				err = d.errf(v, f, "want ConfigMap or Secret, got %q", r.Kind)
			}
		case "name":
			r.Name, err = d.str(v, f)
		case "optional":
			r.Optional, err = d.boolean(v, f)
		default:
			err = d.errf(kn, f, "unknown key (want kind, name, optional)")
		}
		return err
	})
	if err == nil && (r.Kind == "" || r.Name == "") {
		err = d.errf(n, field, "want kind (ConfigMap or Secret) and name")
	}
	return r, err
}

func (d *decoder) boolean(v *yaml.Node, field string) (bool, error) {
	if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
		return false, d.errf(v, field, "want true or false")
	}
	return v.Value == "true", nil
}

func isVarName(s string) bool {
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// String tells the target in messages.
func (k *Kubernetes) String() string {
	switch {
	case k.InCluster:
		return "in-cluster"
	case k.Context != "":
		return fmt.Sprintf("%s (context %s)", k.Kubeconfig, k.Context)
	}
	return k.Kubeconfig
}
