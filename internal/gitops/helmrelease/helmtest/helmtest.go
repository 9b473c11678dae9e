// Package helmtest serves Helm repositories of charts that tests package
// themselves (no chart can be downloaded here).
package helmtest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// DeploymentTemplate renders a busybox Deployment whose pods start at
// once; its image and MESSAGE come from the values.
const DeploymentTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    chart: "{{ .Chart.Version }}"
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: {{ .Values.image }}
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080"]
          env:
            - name: MESSAGE
              value: {{ .Values.env.MESSAGE | quote }}
            - name: CHART
              value: "{{ .Chart.Version }}"
`

// TestTemplate is a test hook pod (helm test): it exits with the
// value testExit (0 unless set).
const TestTemplate = `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
    - name: test
      image: {{ .Values.image }}
      imagePullPolicy: Never
      command: ["sh", "-c", "exit {{ .Values.testExit | default 0 }}"]
`

// Chart is version v of the chart "web": a Deployment and a test hook.
func Chart(v string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "web", Version: v, AppVersion: v},
		Values:   map[string]any{"image": kubetest.BusyboxImage, "env": map[string]any{"MESSAGE": "default"}},
		// Save writes values.yaml from the raw files.
		Raw: []*common.File{{Name: "values.yaml", ModTime: time.Now(),
			Data: []byte("image: " + kubetest.BusyboxImage + "\nenv:\n  MESSAGE: default\n")}},
		Templates: []*common.File{
			{Name: "templates/deployment.yaml", ModTime: time.Now(), Data: []byte(DeploymentTemplate)},
			{Name: "templates/test.yaml", ModTime: time.Now(), Data: []byte(TestTemplate)},
		},
	}
}

// ChartRepo packages versions of the chart "web" and serves them with an
// index.yaml, as a Helm repository over HTTP.
func ChartRepo(t *testing.T, versions ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range versions {
		if _, err := chartutil.Save(Chart(v), dir); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(dir+"/index.yaml", 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// PushCharts pushes versions of the chart "web" to the OCI registry at
// host (plain HTTP) as host/charts/web:<version>, with Helm's registry
// client as `helm push` does, and returns oci://host/charts.
func PushCharts(t *testing.T, host, user, password string, versions ...string) string {
	t.Helper()
	c, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptBasicAuth(user, password),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range versions {
		tgz, err := chartutil.Save(Chart(v), dir)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(tgz)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Push(data, host+"/charts/web:"+v); err != nil {
			t.Fatalf("push chart %s: %v", v, err)
		}
	}
	return "oci://" + host + "/charts"
}
