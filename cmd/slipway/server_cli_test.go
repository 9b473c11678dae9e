package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/testenv"
)

// testServer is a real `slipway serve` on a free loopback port, with its
// own data folder (SQLite) and API token.
type testServer struct {
	url, token string
}

const testAPIToken = "cli-test-api-token-0123456789"

func startTestServer(t *testing.T, config ...string) testServer {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	configFile := filepath.Join(dir, "slipway.yml")
	text := "api_token_env: SLIPWAY_CLI_TEST_TOKEN\n" + strings.Join(config, "")
	if err := os.WriteFile(configFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(slipwayBin, "serve", "--config", configFile, "--listen", addr, "--data", filepath.Join(dir, "data"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLIPWAY_CLI_TEST_TOKEN="+testAPIToken)
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	// Its jobs' shells are in its process group: the cleanup ends them too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	s := testServer{url: "http://" + addr, token: testAPIToken}
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-exited:
			t.Fatalf("slipway serve ended:\n%s", stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway serve did not answer:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs the CLI against the server, with its token unless env says
// otherwise, stdin as given.
func (s testServer) cli(t *testing.T, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return slipwayWith(t, t.TempDir(), append([]string{"SLIPWAY_SERVER=" + s.url, "SLIPWAY_TOKEN=" + s.token}, env...), stdin, args...)
}

// ok runs the CLI and fails the test unless it exits 0.
func (s testServer) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := s.cli(t, "", nil, args...)
	if code != 0 {
		t.Fatalf("slipway %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// get reads the API's JSON at path, with the token.
func (s testServer) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// shopProject creates project shop on the server from a new repository.
func shopProject(t *testing.T, s testServer, pipeline string) {
	t.Helper()
	s.ok(t, "project", "create", "shop", "--repo", filepathOfRepo(t, pipeline))
}

// filepathOfRepo is a new repository whose pipeline file is pipeline.
func filepathOfRepo(t *testing.T, pipeline string) string {
	t.Helper()
	return testenv.GitRepo(t, map[string]string{".gitlab-ci.yml": pipeline})
}
