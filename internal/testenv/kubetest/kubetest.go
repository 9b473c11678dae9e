// Package kubetest gives tests the real Kubernetes started by scripts/kube.sh:
// a one-node cluster whose kubelet runs pods on containerd, with the images
// that script imports (no image can be pulled here).
//
// A cluster that does not answer fails the test instead of skipping it.
//
// The client is a few REST calls over the kubeconfig's certificates, enough
// for tests; it is not meant for production code, which should use client-go.
package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultKubeconfig is where scripts/kube.sh writes the admin's kubeconfig.
const DefaultKubeconfig = "/var/lib/slipway-kube/admin.kubeconfig"

// BusyboxImage is the image scripts/kube.sh imports into the node: Debian's
// static busybox with its applets in /bin. Pods using it must not pull.
const BusyboxImage = "slipway.local/busybox:latest"

// Client talks to one cluster's API server as the kubeconfig's user.
type Client struct {
	server string
	http   *http.Client
}

// Kubeconfig is KUBECONFIG when set, else DefaultKubeconfig.
func Kubeconfig() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	return DefaultKubeconfig
}

// Cluster returns a client for the cluster of Kubeconfig and fails the test
// when its API server is not ready or its node is not Ready.
func Cluster(t testing.TB) *Client {
	t.Helper()
	hint := "start one with: eval \"$(scripts/kube.sh up)\""
	c, err := NewClient(Kubeconfig())
	if err != nil {
		t.Fatalf("kubernetes client: %v\n%s", err, hint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("no Kubernetes answers at %s: %v\n%s", c.server, err, hint)
	}
	return c
}

// kubeconfigFile is the part of a kubeconfig this package reads.
type kubeconfigFile struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server     string `yaml:"server"`
			CA         string `yaml:"certificate-authority"`
			CAData     string `yaml:"certificate-authority-data"`
			Insecure   bool   `yaml:"insecure-skip-tls-verify"`
			ServerName string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Cert     string `yaml:"client-certificate"`
			CertData string `yaml:"client-certificate-data"`
			Key      string `yaml:"client-key"`
			KeyData  string `yaml:"client-key-data"`
			Token    string `yaml:"token"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// NewClient reads a kubeconfig (its current context: server, CA, client
// certificate or bearer token) and returns a client for it.
func NewClient(path string) (*Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var kc kubeconfigFile
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return nil, fmt.Errorf("kubeconfig %s: current-context %q names no context", path, kc.CurrentContext)
	}
	base := filepath.Dir(path) // relative file names are relative to the kubeconfig
	file := func(name, data string) ([]byte, error) {
		if data != "" {
			return base64.StdEncoding.DecodeString(data)
		}
		if name == "" {
			return nil, nil
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(base, name)
		}
		return os.ReadFile(name)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	var server, token string
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		server = strings.TrimSuffix(c.Cluster.Server, "/")
		tlsConf.InsecureSkipVerify = c.Cluster.Insecure
		tlsConf.ServerName = c.Cluster.ServerName
		ca, err := file(c.Cluster.CA, c.Cluster.CAData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: cluster %s: certificate-authority: %w", path, clusterName, err)
		}
		if ca != nil {
			tlsConf.RootCAs = x509.NewCertPool()
			if !tlsConf.RootCAs.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("kubeconfig %s: cluster %s: certificate-authority holds no PEM certificate", path, clusterName)
			}
		}
	}
	if server == "" {
		return nil, fmt.Errorf("kubeconfig %s: cluster %q has no server", path, clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		token = u.User.Token
		cert, err := file(u.User.Cert, u.User.CertData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: user %s: client-certificate: %w", path, userName, err)
		}
		key, err := file(u.User.Key, u.User.KeyData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: user %s: client-key: %w", path, userName, err)
		}
		if cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: user %s: %w", path, userName, err)
			}
			tlsConf.Certificates = []tls.Certificate{pair}
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConf
	var rt http.RoundTripper = transport
	if token != "" {
		rt = bearer{token: token, next: transport}
	}
	return &Client{server: server, http: &http.Client{Transport: rt, Timeout: time.Minute}}, nil
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// StatusError is an API answer outside 2xx.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Code, strings.TrimSpace(e.Body))
}

// IsNotFound tells whether err is the API's 404.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Do sends one request to the API server (path like /api/v1/namespaces) and
// decodes a JSON answer into out when out is not nil. A non-2xx answer is a
// *StatusError.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	raw, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Method: method, Path: path, Code: resp.StatusCode, Body: string(raw)}
	}
	return raw, nil
}

// Ready checks that the API server is ready and that at least one node
// reports Ready, so pods can run.
func (c *Client) Ready(ctx context.Context) error {
	if _, err := c.do(ctx, http.MethodGet, "/readyz", "", nil); err != nil {
		return err
	}
	var nodes struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/nodes", "", nil, &nodes); err != nil {
		return err
	}
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				return nil
			}
		}
	}
	return fmt.Errorf("no node is Ready (%d nodes)", len(nodes.Items))
}

// Apply creates or updates the object at path (the object's own URL, like
// /apis/apps/v1/namespaces/ns/deployments/web) by server-side apply, as
// `kubectl apply --server-side` does. manifest is YAML or JSON.
func (c *Client) Apply(ctx context.Context, path string, manifest []byte) error {
	return c.Do(ctx, http.MethodPatch, path+"?fieldManager=slipway-test&force=true",
		"application/apply-patch+yaml", manifest, nil)
}

// Logs returns the log of a pod's only (or named) container.
func (c *Client) Logs(ctx context.Context, namespace, pod, container string) (string, error) {
	path := "/api/v1/namespaces/" + namespace + "/pods/" + pod + "/log"
	if container != "" {
		path += "?container=" + container
	}
	raw, err := c.do(ctx, http.MethodGet, path, "", nil)
	return string(raw), err
}

// Namespace creates a fresh namespace and deletes it (with
// everything in it) when the test ends.
func Namespace(t testing.TB, c *Client) string {
	t.Helper()
	name := fmt.Sprintf("t-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	manifest := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
	if err := c.Apply(ctx, "/api/v1/namespaces/"+name, []byte(manifest)); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Do(ctx, http.MethodDelete, "/api/v1/namespaces/"+name, "", nil, nil); err != nil && !IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// Eventually polls check every half second until it returns nil or the
// deadline passes, then fails the test with the last error. Generous
// deadlines suit a loaded machine: a pod start takes seconds there.
func Eventually(t testing.TB, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// PodNames are the names of the pods in ns that selector (a label
// selector, "" for all) matches; it fails the test when the API does not answer.
func (c *Client) PodNames(t testing.TB, ns, selector string) []string {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := "/api/v1/namespaces/" + ns + "/pods?labelSelector=" + url.QueryEscape(selector)
	if err := c.Do(ctx, http.MethodGet, path, "", nil, &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names
}
