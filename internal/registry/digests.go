package registry

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// The library addresses all content by its sha256 digest. It accepts blobs
// pushed under another algorithm (sha512) by linking that digest to the
// sha256 content, but then answers with the sha256 digest, forgets the link
// on cross-repository mounts and refuses manifests pushed by a sha512
// digest. This layer closes those gaps: it keeps the library's storage and
// adds the missing links and headers.

// nonCanonical parses s and reports whether it is a valid digest of an
// algorithm other than the library's canonical sha256.
func nonCanonical(s string) (digest.Digest, bool) {
	d, err := digest.Parse(s)
	if err != nil || d.Algorithm() == digest.Canonical {
		return "", false
	}
	return d, true
}

// headerFixer rewrites the digest headers of a successful response, and
// runs onSuccess first (to add links) while the status is still unsent.
type headerFixer struct {
	http.ResponseWriter
	want      digest.Digest
	okStatus  int
	onSuccess func(canonical digest.Digest) error
	wrote     bool
}

func (h *headerFixer) WriteHeader(code int) {
	if h.wrote {
		h.ResponseWriter.WriteHeader(code)
		return
	}
	h.wrote = true
	if code == h.okStatus || (h.okStatus == 0 && code < 300) {
		hdr := h.Header()
		canonical := digest.Digest(hdr.Get("Docker-Content-Digest"))
		if h.onSuccess != nil && canonical != "" {
			if err := h.onSuccess(canonical); err != nil {
				hdr.Del("Location")
				writeError(h.ResponseWriter, http.StatusInternalServerError, "UNKNOWN", err.Error())
				return
			}
		}
		hdr.Set("Docker-Content-Digest", h.want.String())
		if loc := hdr.Get("Location"); loc != "" && canonical != "" {
			hdr.Set("Location", strings.Replace(loc, canonical.String(), h.want.String(), 1))
		}
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerFixer) Write(b []byte) (int, error) {
	if !h.wrote {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

func (h *headerFixer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// fixDigests returns the writer and request to pass to the library for
// requests that name a non-sha256 digest; ok is false when it has already
// answered.
func (r *Registry) fixDigests(w http.ResponseWriter, req *http.Request, rt route) (http.ResponseWriter, *http.Request, bool) {
	q := req.URL.Query()
	switch {
	case rt.kind == routeBlob && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		if d, ok := nonCanonical(rt.reference); ok {
			return &headerFixer{ResponseWriter: w, want: d}, req, true
		}
	case rt.kind == routeUpload && req.Method == http.MethodPut:
		if d, ok := nonCanonical(q.Get("digest")); ok {
			return &headerFixer{ResponseWriter: w, want: d, okStatus: http.StatusCreated}, req, true
		}
	case rt.kind == routeUpload && req.Method == http.MethodPost && q.Get("from") != "":
		if d, ok := nonCanonical(q.Get("mount")); ok {
			// The library links the digest to itself in the target
			// repository; point it at the content as the source does.
			src, dst := r.store.layerLink(q.Get("from"), d), r.store.layerLink(rt.repo, d)
			return &headerFixer{ResponseWriter: w, want: d, okStatus: http.StatusCreated,
				onSuccess: func(digest.Digest) error {
					target, _, err := readLink(src)
					if err != nil {
						return err
					}
					if err := writeLink(r.store.layerLink(rt.repo, target), target); err != nil {
						return err
					}
					return writeLink(dst, target)
				}}, req, true
		}
	case rt.kind == routeManifest && req.Method == http.MethodPut:
		d, ok := nonCanonical(rt.reference)
		if !ok {
			return w, req, true
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: "+err.Error())
			return nil, nil, false
		}
		if d.Algorithm().FromBytes(body) != d {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "manifest content does not match digest "+d.String())
			return nil, nil, false
		}
		canonical := digest.FromBytes(body)
		req2 := req.Clone(req.Context())
		req2.URL.Path = strings.TrimSuffix(req.URL.Path, rt.reference) + canonical.String()
		req2.URL.RawPath = ""
		req2.Body = io.NopCloser(bytes.NewReader(body))
		req2.ContentLength = int64(len(body))
		link := r.store.revisionLink(rt.repo, d)
		return &headerFixer{ResponseWriter: w, want: d, okStatus: http.StatusCreated,
			onSuccess: func(c digest.Digest) error { return writeLink(link, c) }}, req2, true
	case rt.kind == routeManifest && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		if d, ok := nonCanonical(rt.reference); ok {
			return &headerFixer{ResponseWriter: w, want: d}, req, true
		}
	}
	return w, req, true
}

func (s *Store) layerLink(repo string, d digest.Digest) string {
	return filepath.Join(s.repoDir(repo), "_layers", string(d.Algorithm()), d.Encoded(), "link")
}

func (s *Store) revisionLink(repo string, d digest.Digest) string {
	return filepath.Join(s.repoDir(repo), "_manifests", "revisions", string(d.Algorithm()), d.Encoded(), "link")
}

// writeLink writes a link file the way the library does: the target digest.
func writeLink(path string, target digest.Digest) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(target.String()), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
