package helmrelease

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"
)

// Host is what the config says of one host serving charts: an OCI
// registry or an HTTP(S) Helm repository.
type Host struct {
	// Username and Password are sent to this host only, never logged.
	Username, Password string
	// PlainHTTP reaches an OCI registry without TLS (a loopback host
	// always is).
	PlainHTTP bool
}

// host is the config of a host:port; a loopback host is reached over
// plain HTTP whatever the config says.
func (r *Releaser) host(hostport string) Host {
	h := r.Hosts[hostport]
	if hn, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = hn
	}
	if ip := net.ParseIP(hostport); hostport == "localhost" || (ip != nil && ip.IsLoopback()) {
		h.PlainHTTP = true
	}
	return h
}

// chart loads the spec's chart: from its folder, or the newest version of
// the repository (index.yaml, or an OCI registry's tags) that matches the
// range.
func (r *Releaser) chart(ctx context.Context, spec Spec) (*chart.Chart, error) {
	switch {
	case spec.ChartDir != "":
		ch, err := loader.LoadDir(spec.ChartDir)
		if err != nil {
			return nil, fmt.Errorf("helm: chart %s: %w", spec.ChartDir, err)
		}
		return ch, nil
	case registry.IsOCI(spec.RepoURL):
		return r.ociChart(spec)
	}
	base, err := url.Parse(strings.TrimSuffix(spec.RepoURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("helm: repository %q: want an http(s) or oci:// URL", spec.RepoURL)
	}
	raw, err := r.get(ctx, base.JoinPath("index.yaml"))
	if err != nil {
		return nil, fmt.Errorf("helm: repository %s: %w", spec.RepoURL, err)
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("helm: repository %s: index.yaml: %w", spec.RepoURL, err)
	}
	idx.SortEntries()
	cv, err := idx.Get(spec.Chart, spec.Version)
	if err != nil {
		return nil, fmt.Errorf("helm: repository %s: chart %s version %q: %w", spec.RepoURL, spec.Chart, spec.Version, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("helm: repository %s: chart %s %s has no URL", spec.RepoURL, spec.Chart, cv.Version)
	}
	u, err := base.Parse(cv.URLs[0]) // relative URLs are relative to the repository
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s %s: %w", spec.Chart, cv.Version, err)
	}
	tgz, err := r.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s %s: %w", spec.Chart, cv.Version, err)
	}
	return load(tgz, spec.Chart+" "+cv.Version)
}

// OCIRef is the chart's reference in its registry, without oci://: the
// repository URL, then the chart's name when one is given (Flux's
// HelmRepository of type oci), else the URL names the chart itself.
func OCIRef(repoURL, chartName string) string {
	ref := strings.TrimSuffix(strings.TrimPrefix(repoURL, "oci://"), "/")
	if chartName != "" {
		ref += "/" + chartName
	}
	return ref
}

// ociChart lists the chart's tags in its registry with Helm's registry
// client, takes the newest that matches the range and pulls it.
func (r *Releaser) ociChart(spec Spec) (*chart.Chart, error) {
	ref := OCIRef(spec.RepoURL, spec.Chart)
	hostport, _, _ := strings.Cut(ref, "/")
	h := r.host(hostport)
	// Anonymous unless the config gives this host credentials: the
	// docker and helm logins of the user Slipway runs as are not used.
	authz := auth.Client{Client: r.httpClient(), Cache: auth.NewCache()}
	if h.Username != "" || h.Password != "" {
		authz.Credential = auth.StaticCredential(hostport, auth.Credential{Username: h.Username, Password: h.Password})
	}
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(r.httpClient()), registry.ClientOptAuthorizer(authz)}
	if h.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("helm: oci://%s: %w", ref, err)
	}
	tags, err := client.Tags(ref)
	if err != nil {
		return nil, fmt.Errorf("helm: oci://%s: listing tags: %w", ref, err)
	}
	version, err := registry.GetTagMatchingVersionOrConstraint(tags, spec.Version)
	if err != nil {
		return nil, fmt.Errorf("helm: oci://%s: version %q: %w (tags: %s)", ref, spec.Version, err, strings.Join(tags, ", "))
	}
	// A + of semver is an _ in a tag (Helm's rule).
	res, err := client.Pull(ref+":"+strings.ReplaceAll(version, "+", "_"), registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("helm: oci://%s:%s: %w", ref, version, err)
	}
	return load(res.Chart.Data, "oci://"+ref+":"+version)
}

func load(tgz []byte, what string) (*chart.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("helm: chart %s: %w", what, err)
	}
	return ch, nil
}

func (r *Releaser) httpClient() *http.Client {
	if r.HTTP != nil {
		return r.HTTP
	}
	return http.DefaultClient
}

// get fetches u, with the credentials the config gives its host.
func (r *Releaser) get(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if h := r.Hosts[u.Host]; h.Username != "" || h.Password != "" {
		req.SetBasicAuth(h.Username, h.Password)
	}
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}
