package registry_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/registry/registrytest"
)

// The upload path streams PATCH and PUT bodies itself (upload.go); these
// tests check what a client sees of it: offsets, ranges, digest checks and
// resumption, against the spec's rules.

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

type uploadClient struct {
	t    *testing.T
	base string // http://host
	repo string
}

func (c uploadClient) do(method, url string, body io.Reader, hdr map[string]string) *http.Response {
	c.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = c.base + url
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (c uploadClient) start() string {
	c.t.Helper()
	resp := c.do(http.MethodPost, "/v2/"+c.repo+"/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("POST: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

func (c uploadClient) patch(loc string, chunk []byte, start int) *http.Response {
	c.t.Helper()
	return c.do(http.MethodPatch, loc, bytes.NewReader(chunk), map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", start, start+len(chunk)-1),
	})
}

func withDigest(loc, d string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + d
}

// pulled fetches a blob and fails unless it is want.
func (c uploadClient) pulled(d string, want []byte) {
	c.t.Helper()
	resp, err := http.Get(c.base + "/v2/" + c.repo + "/blobs/" + d)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		c.t.Fatalf("GET blob: %s, %d bytes (want %d), %v", resp.Status, len(got), len(want), err)
	}
}

func newUploadClient(t *testing.T) uploadClient {
	_, host := registrytest.Start(t, nil)
	return uploadClient{t: t, base: "http://" + host, repo: "team/app"}
}

func TestChunkedUploadKeepsOffsetsAndVerifiesDigest(t *testing.T) {
	c := newUploadClient(t)
	blob := randomBytes(t, 3<<20+123)
	a, b := blob[:1<<20+7], blob[1<<20+7:]

	loc := c.start()
	resp := c.patch(loc, a, 0)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", len(a)-1) {
		t.Fatalf("first chunk: %s, Range %q", resp.Status, resp.Header.Get("Range"))
	}
	next := resp.Header.Get("Location")

	// Out of order: the chunk must start where the upload ends.
	if resp := c.patch(next, b, len(a)+1); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("chunk at a wrong offset: %s, want 416", resp.Status)
	}
	// A stale location names the old offset.
	if resp := c.patch(loc, b, len(a)); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("chunk sent to a stale location: %s, want 416", resp.Status)
	}

	resp = c.patch(next, b, len(a))
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", len(blob)-1) {
		t.Fatalf("second chunk: %s, Range %q", resp.Status, resp.Header.Get("Range"))
	}
	next = resp.Header.Get("Location")
	if st := c.do(http.MethodGet, next, nil, nil); st.StatusCode != http.StatusNoContent ||
		st.Header.Get("Range") != fmt.Sprintf("0-%d", len(blob)-1) {
		t.Fatalf("upload status: %s, Range %q", st.Status, st.Header.Get("Range"))
	}

	resp = c.do(http.MethodPut, withDigest(next, sha(blob)), nil, nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != sha(blob) {
		t.Fatalf("PUT: %s, digest %q", resp.Status, resp.Header.Get("Docker-Content-Digest"))
	}
	c.pulled(sha(blob), blob)
}

func TestMonolithicPutWithWrongDigestIsRefused(t *testing.T) {
	c := newUploadClient(t)
	blob := randomBytes(t, 2<<20)
	wrong := sha([]byte("something else"))

	resp := c.do(http.MethodPut, withDigest(c.start(), wrong), bytes.NewReader(blob), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT with a wrong digest: %s, want 400", resp.Status)
	}
	for _, d := range []string{wrong, sha(blob)} {
		if resp := c.do(http.MethodHead, "/v2/"+c.repo+"/blobs/"+d, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD %s after a refused upload: %s, want 404", d, resp.Status)
		}
	}

	// The same blob with its digest, in one PUT.
	resp = c.do(http.MethodPut, withDigest(c.start(), sha(blob)), bytes.NewReader(blob), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	c.pulled(sha(blob), blob)
}

// onlyReader hides bytes.Reader's length so the client streams the body
// with chunked transfer encoding, as docker does.
type onlyReader struct{ io.Reader }

func TestStreamedPatchThenEmptyPut(t *testing.T) {
	c := newUploadClient(t)
	blob := randomBytes(t, 40<<20+5) // several write-behind spans

	resp := c.do(http.MethodPatch, c.start(), onlyReader{bytes.NewReader(blob)}, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	resp = c.do(http.MethodPut, withDigest(resp.Header.Get("Location"), sha(blob)), nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	c.pulled(sha(blob), blob)
}

// interruptedPatch sends a PATCH announcing want bytes, sends only half of
// them once the server is reading the body (100 Continue), then hangs up.
func (c uploadClient) interruptedPatch(loc string, body []byte) {
	c.t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.base, "http://"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", u.RequestURI(), u.Host, len(body))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100") {
		c.t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
	}
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		c.t.Fatal(err)
	}
}

func TestInterruptedChunkLeavesUploadAtItsOffset(t *testing.T) {
	c := newUploadClient(t)
	blob := randomBytes(t, 6<<20)
	a, b := blob[:2<<20], blob[2<<20:]

	resp := c.patch(c.start(), a, 0)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first chunk: %s", resp.Status)
	}
	next := resp.Header.Get("Location")

	c.interruptedPatch(next, b)

	st := c.do(http.MethodGet, next, nil, nil)
	if st.StatusCode != http.StatusNoContent || st.Header.Get("Range") != fmt.Sprintf("0-%d", len(a)-1) {
		t.Fatalf("status after an interrupted chunk: %s, Range %q, want 0-%d", st.Status, st.Header.Get("Range"), len(a)-1)
	}
	resp = c.patch(next, b, len(a))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk sent again: %s", resp.Status)
	}
	resp = c.do(http.MethodPut, withDigest(resp.Header.Get("Location"), sha(blob)), nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	c.pulled(sha(blob), blob)
}

// TestOverlongRepositoryNameIsNameInvalid: a repository name of 200
// components is the client's mistake (400 NAME_INVALID, as the spec
// says), not the server's (500), whatever the request.
func TestOverlongRepositoryNameIsNameInvalid(t *testing.T) {
	_, host := registrytest.Start(t, nil)
	name := strings.TrimSuffix(strings.Repeat("a/", 200), "/")
	for _, c := range []struct{ method, path string }{
		{"POST", "/v2/" + name + "/blobs/uploads/"},
		{"GET", "/v2/" + name + "/manifests/latest"},
		{"PUT", "/v2/" + name + "/manifests/latest"},
		{"GET", "/v2/" + name + "/tags/list"},
		{"GET", "/v2/" + name + "/blobs/sha256:" + strings.Repeat("0", 64)},
	} {
		req, _ := http.NewRequest(c.method, "http://"+host+c.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "NAME_INVALID") {
			t.Errorf("%s of a 200-component name: %d %s, want 400 NAME_INVALID", c.method, resp.StatusCode, body)
		}
	}
}
