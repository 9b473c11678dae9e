// Package webhook is a load test of webhook deliveries against a real
// `slipway serve`: run it with bench/webhook/run.sh.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store/storetest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// Targets: GitHub gives up on a delivery after 10 s; every answer must come
// well within it.
const (
	deliveries  = 100
	concurrency = 25
	maxAnswer   = time.Second
	secret      = "bench-webhook-secret-0123456789"
)

// BenchmarkWebhookLoad sends 100 signed GitHub pushes (each of its own
// commit), 25 at a time, to a real server on SQLite and on PostgreSQL.
// It fails when an answer takes 1 s or more or is not 202, or when a
// pipeline does not succeed; it reports the answers' times, how long until
// every pipeline finished and the server's peak RSS.
func BenchmarkWebhookLoad(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "slipway")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/slipway").CombinedOutput(); err != nil {
		b.Fatalf("building slipway: %v\n%s", err, out)
	}
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			url := storetest.SQLiteURL(b)
			if db == "postgres" {
				url = storetest.PostgresURL(b)
			}
			for range b.N {
				load(b, bin, url)
			}
		})
	}
}

func load(b *testing.B, bin, db string) {
	repo := testenv.GitRepo(b, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo hi]\n"})
	shas := make([]string, deliveries)
	for i := range shas {
		testenv.Git(b, repo, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("Change %d", i))
		shas[i] = testenv.Git(b, repo, "rev-parse", "HEAD")
	}
	srv := serve(b, bin, db)
	post(b, srv.url+"/api/projects", map[string]any{"name": "shop", "repo_url": repo, "default_branch": "main", "webhook_secret": secret})

	b.ResetTimer()
	start := time.Now()
	answers := make([]time.Duration, deliveries)
	ids := make([]int64, deliveries)
	var wg sync.WaitGroup
	work := make(chan int)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				answers[i], ids[i] = push(b, srv.url, shas[i], i)
			}
		}()
	}
	for i := range deliveries {
		work <- i
	}
	close(work)
	wg.Wait()
	failed := 0
	for _, id := range ids {
		if id == 0 || !pipelineSucceeded(b, srv.url, id) {
			failed++
		}
	}
	all := time.Since(start)
	b.StopTimer()
	rss := srv.peakRSS()

	slowest := make([]int, deliveries)
	for i := range slowest {
		slowest[i] = i
	}
	slices.SortFunc(slowest, func(a, c int) int { return int(answers[c] - answers[a]) })
	for _, i := range slowest[:3] {
		b.Logf("slow: delivery %d (of the burst of %d) answered in %s", i, concurrency, answers[i].Round(time.Millisecond))
	}
	slices.Sort(answers)
	p50, p99, worst := answers[len(answers)/2], answers[len(answers)*99/100], answers[len(answers)-1]
	b.ReportMetric(float64(worst.Milliseconds()), "ms-answer-max")
	b.ReportMetric(float64(p50.Milliseconds()), "ms-answer-p50")
	b.ReportMetric(all.Seconds(), "s-all-pipelines")
	b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-rss")
	b.Logf("%d deliveries, %d at a time: answers p50 %s, p99 %s, max %s (target < %s); every pipeline finished after %s, %d failed; server peak RSS %.0f MiB",
		deliveries, concurrency, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond), maxAnswer,
		all.Round(time.Millisecond), failed, float64(rss)/(1<<20))
	if worst >= maxAnswer {
		b.Errorf("an answer took %s, target < %s", worst.Round(time.Millisecond), maxAnswer)
	}
	if failed > 0 {
		b.Errorf("%d of %d deliveries made no successful pipeline", failed, deliveries)
	}
}

// push sends the signed push of sha and returns how long the answer took
// and the delivery's id (0 when it was not 202).
func push(b *testing.B, url, sha string, n int) (time.Duration, int64) {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository":  map[string]any{"full_name": "acme/shop"},
		"head_commit": map[string]any{"id": sha, "message": "Change", "timestamp": "2026-11-25T08:00:00Z"},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", url+"/hooks/shop", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "bench-"+strconv.Itoa(n))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	if err != nil {
		b.Errorf("delivery %d: %v", n, err)
		return took, 0
	}
	defer resp.Body.Close()
	var d struct {
		ID int64 `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&d)
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("delivery %d answered %d", n, resp.StatusCode)
		return took, 0
	}
	return took, d.ID
}

// pipelineSucceeded waits for the delivery's pipeline to finish.
func pipelineSucceeded(b *testing.B, url string, delivery int64) bool {
	var d struct {
		Status     string `json:"status"`
		PipelineID int64  `json:"pipeline_id"`
		Message    string `json:"message"`
	}
	if !poll(b, fmt.Sprintf("%s/api/webhook-deliveries/%d", url, delivery), &d, func() bool { return d.Status == "done" || d.Status == "failed" }) {
		return false
	}
	if d.PipelineID == 0 {
		b.Errorf("delivery %d: %s %s", delivery, d.Status, d.Message)
		return false
	}
	var p struct {
		Status string `json:"status"`
	}
	done := func() bool {
		return p.Status != "" && p.Status != "created" && p.Status != "pending" && p.Status != "running"
	}
	return poll(b, fmt.Sprintf("%s/api/pipelines/%d", url, d.PipelineID), &p, done) && p.Status == "success"
}

// poll GETs url into v until done, for up to five minutes.
func poll(b *testing.B, url string, v any, done func() bool) bool {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			b.Errorf("GET %s: %v", url, err)
			return false
		}
		json.NewDecoder(resp.Body).Decode(v)
		resp.Body.Close()
		if done() {
			return true
		}
	}
	b.Errorf("GET %s: not done after five minutes", url)
	return false
}

// benchToken is the server's API token (the API asks one for changes).
const benchToken = "slipway-bench-webhook-load-token"

func post(b *testing.B, url string, v any) {
	data, _ := json.Marshal(v)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
}

type server struct {
	cmd *exec.Cmd
	url string
}

// serve starts `slipway serve` (shell executor) and stops it when b ends.
func serve(b *testing.B, bin, db string) *server {
	addr := testenv.FreeAddr(b)
	s := &server{url: "http://" + addr}
	var stderr testenv.Buffer
	config := filepath.Join(b.TempDir(), "slipway.yml")
	if err := os.WriteFile(config, []byte("api_token_env: SLIPWAY_BENCH_TOKEN\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "--listen", addr, "--data", b.TempDir(), "--database", db, "--config", config)
	s.cmd.Env = append(os.Environ(), "SLIPWAY_BENCH_TOKEN="+benchToken)
	s.cmd.Stderr = &stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		if b.Failed() {
			b.Logf("server log:\n%s", &stderr)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
	}
	b.Fatalf("server did not answer:\n%s", &stderr)
	return nil
}

// peakRSS is the server's peak resident set size in bytes (VmHWM).
func (s *server) peakRSS() int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
