// Package registry_bench measures the embedded registry's push and pull of
// one 256 MiB blob against Go's sha256 throughput on the same machine, in
// the same run: the registry must hash what it receives, so sha256 is the
// ceiling for a push. Run: bench/registry/run.sh
package registry_bench

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

const blobSize = 256 << 20

var blob = func() []byte {
	b := make([]byte, blobSize)
	_, _ = rand.Read(b)
	return b
}()

func blobDigest() string { return fmt.Sprintf("sha256:%x", sha256.Sum256(blob)) }

// dataDir is where the registry stores the blob: REGISTRY_BENCH_DIR (e.g.
// /dev/shm, to take the disk out of the figure) or a test temp folder.
func dataDir(b *testing.B) string {
	if d := os.Getenv("REGISTRY_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "registry-bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkDiskWrite writes the blob to a file in the data folder's file
// system, the other ceiling of a push: the registry must store what it gets.
func BenchmarkDiskWrite(b *testing.B) {
	dir := dataDir(b)
	b.SetBytes(blobSize)
	for b.Loop() {
		p := filepath.Join(dir, "blob")
		if err := os.WriteFile(p, blob, 0o600); err != nil {
			b.Fatal(err)
		}
		os.Remove(p)
	}
}

func BenchmarkSHA256(b *testing.B) {
	b.SetBytes(blobSize)
	for b.Loop() {
		sha256.Sum256(blob)
	}
}

// push uploads the blob monolithically, as the benchmark always has: POST,
// then PUT with the digest and the body.
func push(host, repo, digest string) error {
	resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		return fmt.Errorf("POST upload: %s", resp.Status)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(http.MethodPut, loc+sep+"digest="+digest, bytes.NewReader(blob))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT upload: %s", resp.Status)
	}
	return nil
}

// pushStreamed uploads the blob as docker does: POST, one PATCH streaming
// the body (chunked transfer encoding), then PUT with the digest.
func pushStreamed(host, repo, digest string) error {
	resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST upload: %s", resp.Status)
	}
	// Hiding bytes.Reader's length makes the client stream it.
	body := struct{ io.Reader }{bytes.NewReader(blob)}
	req, err := http.NewRequest(http.MethodPatch, resp.Header.Get("Location"), body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		return fmt.Errorf("PATCH upload: %s", resp.Status)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if req, err = http.NewRequest(http.MethodPut, loc+sep+"digest="+digest, nil); err != nil {
		return err
	}
	if resp, err = http.DefaultClient.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT upload: %s", resp.Status)
	}
	return nil
}

func BenchmarkPushStreamed(b *testing.B) {
	_, host := registrytest.StartIn(b, dataDir(b), nil)
	d := blobDigest()
	b.SetBytes(blobSize)
	i := 0
	for b.Loop() {
		if err := pushStreamed(host, fmt.Sprintf("bench/stream%d", i), d); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPush(b *testing.B) {
	_, host := registrytest.StartIn(b, dataDir(b), nil)
	d := blobDigest()
	b.SetBytes(blobSize)
	i := 0
	for b.Loop() {
		// A new repository each time: the blob is stored once, but every
		// push still streams, hashes and verifies all of it.
		if err := push(host, fmt.Sprintf("bench/push%d", i), d); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPull(b *testing.B) {
	_, host := registrytest.StartIn(b, dataDir(b), nil)
	d := blobDigest()
	if err := push(host, "bench/pull", d); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(blobSize)
	for b.Loop() {
		resp, err := http.Get("http://" + host + "/v2/bench/pull/blobs/" + d)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != blobSize || resp.StatusCode != http.StatusOK {
			b.Fatalf("pull: %s, %d bytes, %v", resp.Status, n, err)
		}
	}
}
