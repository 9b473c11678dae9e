package server

import (
	"bytes"
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
	"github.com/slipway-cd/slipway/internal/testenv"
)

// TestGitHubSignedReceiverCallTriggersAPass: a push signed as GitHub signs
// it, sent over HTTP to the receiver's /hook/ path with no API token, makes
// the server reconcile a commit at once though its intervals are an hour;
// a wrong signature is 403, reconciles nothing and the log never shows the
// secret.
func TestGitHubSignedReceiverCallTriggersAPass(t *testing.T) {
	const secret = "gh-receiver-secret-7f3a91c2"
	t.Setenv("DOCKER_HOST", testenv.DockerHost())
	t.Setenv("SLIPWAY_TEST_RECEIVER_SECRET", secret)
	t.Setenv("SLIPWAY_RECEIVER_TEST_TOKEN", "api-token-not-sent-by-forges")
	work, bare := testenv.GitRemote(t, map[string]string{"README": "no apps yet\n"})
	file := filepath.Join(t.TempDir(), "slipway-gitops.yaml")
	os.WriteFile(file, []byte("sources: [{name: ops, url: "+bare+", interval: 1h}]\n"+
		"deployments: [{name: hooked, source: ops, interval: 1h}]\n"+
		"receivers:\n  - {name: github-ops, type: github, secret_ref: env:SLIPWAY_TEST_RECEIVER_SECRET, events: [push], deployments: [hooked]}\n"), 0o644)
	logs := &syncBuffer{}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Executor: "shell", Concurrency: 4,
		APITokenEnv: "SLIPWAY_RECEIVER_TEST_TOKEN", PollInterval: time.Hour, ScheduleTick: time.Hour}
	cfg.Gitops.Config = file
	cfg.Proxy.Embedded.Listen = testenv.FreeAddr(t)
	cfg.Proxy.Embedded.StorageDir = t.TempDir()
	s := startUIServer(t, cfg, logs)
	t.Cleanup(func() { closeUIServer(s) })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	applied := func(rev string) bool {
		st := s.gitops.controller.Statuses()[0]
		return st.Condition == gitops.Ready && st.AppliedRevision == rev
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, s.gitops.controller.Statuses()[0])
			}
		}
	}
	waitFor("the first pass", func() bool { return applied(testenv.Git(t, bare, "rev-parse", "main")) })

	os.WriteFile(filepath.Join(work, "README"), []byte("still no apps\n"), 0o644)
	testenv.Git(t, work, "commit", "-qam", "second")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	head := testenv.Git(t, bare, "rev-parse", "main")

	path := receiver.Path("github-ops", []byte(secret))
	body := `{"ref":"refs/heads/main","after":"` + head + `"}`
	post := func(key string) (int, string) {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(body))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}

	if code, answer := post("a-wrong-secret-of-some-length"); code != http.StatusForbidden {
		t.Errorf("wrong signature: %d %s, want 403", code, answer)
	}
	if code, answer := post(secret); code != http.StatusAccepted || !strings.Contains(answer, "hooked") {
		t.Fatalf("signed push: %d %s, want 202 naming the deployment", code, answer)
	}
	waitFor("the pass the receiver asked for", func() bool { return applied(head) })
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the server's log shows the receiver's secret")
	}
	if !strings.Contains(logs.String(), "receiver call refused") {
		t.Errorf("the refused call is not logged")
	}

	plain := httptest.NewServer(uiServer(t, "").Handler())
	defer plain.Close()
	resp, err := http.Post(plain.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a server without receivers answers %d, want 404", resp.StatusCode)
	}
}
