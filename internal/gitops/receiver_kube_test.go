//go:build kube

package gitops_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/gitops/receiver"
)

// TestKubeGitHubSignedReceiverCallTriggersAPass: with hour-long
// intervals, a commit reaches the cluster as soon as a push signed as
// GitHub signs it reaches the receiver; a wrong signature applies nothing.
func TestKubeGitHubSignedReceiverCallTriggersAPass(t *testing.T) {
	const secret = "kube-receiver-secret-0c4d2e"
	k := newKubeFixture(t)
	src := newSource(t, map[string]string{"apps/settings.yaml": configMapManifest("settings", "one")})
	yamlText := strings.Replace(k.config(src, `  - name: apps
    source: ops
    path: apps
    interval: 1h
    kubernetes:
      kubeconfig: {kubeconfig}
      namespace: {ns}
receivers:
  - {name: github-ops, type: github, secret_ref: env:OPS_HOOK, events: [push], deployments: [apps]}
`), "branch: main", "branch: main\n    interval: 1h", 1)
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	if err := os.WriteFile(file, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gitops.LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	recvs, err := receiver.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := receiver.New(recvs, receiver.Options{File: file, Getenv: func(string) string { return secret }, Reconcile: c.Reconcile, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close(context.Background())
	})
	settingsAre := func(want string) func() bool {
		return func() bool { cm, err := k.configMap("settings"); return err == nil && cm.Data["value"] == want }
	}
	waitUntil(t, "the first pass", settingsAre("one"))

	src.commit("two", map[string]string{"apps/settings.yaml": configMapManifest("settings", "two")})
	body := `{"ref":"refs/heads/main","after":"` + src.head() + `"}`
	post := func(key string) int {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(body))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+receiver.Path("github-ops", []byte(secret)), strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("not-the-receiver-secret"); code != http.StatusForbidden {
		t.Fatalf("wrong signature: %d, want 403", code)
	}
	if code := post(secret); code != http.StatusAccepted {
		t.Fatalf("signed push: %d, want 202", code)
	}
	waitUntil(t, "the pass the receiver asked for", settingsAre("two"))
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
	}
}
