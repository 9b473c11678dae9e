package helmrelease

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// TestChartFromARepositoryWithCredentials: the credentials the config
// gives a repository's host go with its index.yaml and archives, and not
// to another host an index points to; without them the error says what
// the server answered.
func TestChartFromARepositoryWithCredentials(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"4.0.2", "4.0.3", "4.1.0"} {
		ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "web", Version: v}}
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
	// Archives on a second host, which must not see the credentials.
	var leaked []string
	archives := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			leaked = append(leaked, r.URL.Path)
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer archives.Close()
	idx, err := repo.IndexDirectory(dir, archives.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	charts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
			http.Error(w, "login", http.StatusUnauthorized)
			return
		}
		w.Write(index)
	}))
	defer charts.Close()
	spec := Spec{RepoURL: charts.URL, Chart: "web", Version: "4.0.x"}

	_, err = (&Releaser{}).chart(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("without credentials: %v", err)
	}
	r := &Releaser{Hosts: map[string]Host{strings.TrimPrefix(charts.URL, "http://"): {Username: "ci", Password: "s3cret"}}}
	ch, err := r.chart(context.Background(), spec)
	if err != nil || ch.Metadata.Version != "4.0.3" {
		t.Fatalf("with credentials: %v", err)
	}
	if len(leaked) > 0 {
		t.Errorf("credentials sent to another host: %v", leaked)
	}
}
