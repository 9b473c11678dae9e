package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestDoc holds the fields of any manifest (OCI or Docker image
// manifest, index, artifact) that referrers and garbage collection need.
type manifestDoc struct {
	MediaType    string               `json:"mediaType"`
	ArtifactType string               `json:"artifactType"`
	Config       *ocispec.Descriptor  `json:"config"`
	Layers       []ocispec.Descriptor `json:"layers"`
	Manifests    []ocispec.Descriptor `json:"manifests"`
	Blobs        []ocispec.Descriptor `json:"blobs"`
	Subject      *ocispec.Descriptor  `json:"subject"`
	Annotations  map[string]string    `json:"annotations"`
}

// maxManifestSize matches the library's own limit on manifest bodies.
const maxManifestSize = 4 << 20

// referrers computes the referrers API from the stored manifests' subject
// fields; the library has no such API. Manifest content is immutable, so
// what each digest refers to is cached forever.
type referrers struct {
	store *Store
	mu    sync.Mutex
	byDig map[digest.Digest]*ocispec.Descriptor // manifest → its descriptor as a referrer
	subj  map[digest.Digest]digest.Digest       // manifest → its subject ("" when none)
}

func newReferrers(s *Store) *referrers {
	return &referrers{store: s, byDig: map[digest.Digest]*ocispec.Descriptor{}, subj: map[digest.Digest]digest.Digest{}}
}

// describe returns the manifest's subject and its descriptor as a referrer.
func (rf *referrers) describe(d digest.Digest) (digest.Digest, *ocispec.Descriptor, error) {
	rf.mu.Lock()
	if desc, ok := rf.byDig[d]; ok {
		s := rf.subj[d]
		rf.mu.Unlock()
		return s, desc, nil
	}
	rf.mu.Unlock()
	b, err := rf.store.blob(d)
	if err != nil {
		return "", nil, err
	}
	var m manifestDoc
	if json.Unmarshal(b, &m) != nil {
		m = manifestDoc{}
	}
	desc := &ocispec.Descriptor{
		MediaType:    m.MediaType,
		Digest:       d,
		Size:         int64(len(b)),
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if desc.ArtifactType == "" && m.Config != nil && m.MediaType != ocispec.MediaTypeImageIndex {
		desc.ArtifactType = m.Config.MediaType
	}
	var subject digest.Digest
	if m.Subject != nil {
		subject = m.Subject.Digest
	}
	rf.mu.Lock()
	rf.byDig[d], rf.subj[d] = desc, subject
	rf.mu.Unlock()
	return subject, desc, nil
}

// list returns the descriptors of the manifests in repo whose subject is subject.
func (rf *referrers) list(repo string, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	revs, err := rf.store.revisions(repo)
	if err != nil {
		return nil, err
	}
	out := []ocispec.Descriptor{}
	for _, rev := range revs {
		s, desc, err := rf.describe(rev.digest)
		if err != nil {
			continue // deleted meanwhile, or a blob GC already took
		}
		if s != subject || (artifactType != "" && desc.ArtifactType != artifactType) {
			continue
		}
		out = append(out, *desc)
	}
	return out, nil
}

func (rf *referrers) serve(w http.ResponseWriter, req *http.Request, rt route) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the referrers API is read-only")
		return
	}
	subject, err := digest.Parse(rt.reference)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid subject digest")
		return
	}
	artifactType := req.URL.Query().Get("artifactType")
	list, err := rf.list(rt.repo, subject, artifactType)
	if errors.Is(err, ErrInvalidName) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: list}
	index.SchemaVersion = 2
	body, err := json.Marshal(index)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// putManifest passes a manifest push to the library and, when the manifest
// has a subject, answers with the OCI-Subject header clients use to know the
// registry indexes referrers (so they need not maintain a fallback tag).
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: "+err.Error())
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var m manifestDoc
	if json.Unmarshal(body, &m) != nil || m.Subject == nil {
		r.app.ServeHTTP(w, req)
		return
	}
	r.app.ServeHTTP(&subjectWriter{ResponseWriter: w, subject: m.Subject.Digest}, req)
}

type subjectWriter struct {
	http.ResponseWriter
	subject digest.Digest
}

func (s *subjectWriter) WriteHeader(code int) {
	if code == http.StatusCreated {
		s.Header().Set("OCI-Subject", s.subject.String())
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *subjectWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
