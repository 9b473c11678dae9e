package registry

import (
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// The library receives an upload's body in one goroutine: 32 KiB read from
// the connection, written to the file, hashed, and again, then an fsync of
// the whole file. A push is then bound by read + write + hash + flush time,
// under half of sha256's throughput. Here the body of a PATCH or of a PUT
// that carries data goes through our own pipeline instead: the request's
// goroutine reads 1 MiB buffers, one goroutine hashes them and another
// writes them to the upload's data file behind it (see writeBehind).
//
// The library keeps everything else, and its checks run first: a PATCH
// with no body validates the upload state, the offset and Content-Range;
// then the data is appended and the hash state saved where the library
// keeps its resumable digests (hashstates/sha256/<offset>), so it resumes
// the upload at the new offset, verifies the digest from that state and
// commits as if it had received the bytes itself.

const (
	uploadBufSize = 1 << 20
	uploadBufs    = 16
	// writebackEvery is how much is written between two calls of writeBehind.
	writebackEvery = 16 << 20
)

var uploadBufPool = sync.Pool{New: func() any { b := make([]byte, uploadBufSize); return &b }}

// uploadID is the form of the library's upload identifiers (UUIDs); any
// other name is left to the library rather than turned into a path.
var uploadID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (s *Store) uploadDir(repo, id string) string {
	return filepath.Join(s.repoDir(repo), "_uploads", id)
}

// serveUpload serves the requests of /v2/<name>/blobs/uploads/. Those of
// one upload are served one at a time: a chunk is appended, and taken back
// if it fails, while the library sees nothing, so a status or another chunk
// must wait for it to end.
func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, rt route) {
	id, ok := strings.CutPrefix(req.URL.Path, "/v2/"+rt.repo+"/blobs/uploads/")
	if !ok || !uploadID.MatchString(id) {
		r.app.ServeHTTP(w, req)
		return
	}
	defer r.uploads.lock(id)()
	if !r.streamUpload(w, req, rt, id) {
		r.app.ServeHTTP(w, req)
	}
}

// streamUpload handles a PATCH, or a PUT with a body, of upload id. It
// returns false, having touched nothing, for requests it leaves to the
// library.
func (r *Registry) streamUpload(w http.ResponseWriter, req *http.Request, rt route, id string) bool {
	if req.Method != http.MethodPatch && req.Method != http.MethodPut || req.ContentLength == 0 || req.Body == nil {
		return false
	}
	if req.Method == http.MethodPut {
		// The library refuses a missing or bad digest before reading.
		if _, err := digest.Parse(req.URL.Query().Get("digest")); err != nil {
			return false
		}
	} else if ct := req.Header.Get("Content-Type"); ct != "" && ct != "application/octet-stream" {
		return false
	}

	// The library checks the upload state, the offset and Content-Range.
	check := libraryRequest(req, http.MethodPatch, req.URL, true)
	rec := newRecorder()
	r.app.ServeHTTP(rec, check)
	if rec.status != http.StatusAccepted {
		rec.replay(w)
		return true
	}

	dir := r.store.uploadDir(rt.repo, id)
	f, offset, h, err := openUpload(dir)
	if errors.Is(err, errNoHashState) {
		return false // the library re-hashes what it has: let it take the body
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return true
	}
	defer f.Close()
	n, err := appendHashing(f, offset, req.Body, h)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = saveHashState(dir, offset+n, h)
	}
	if err != nil {
		// A chunk is all or nothing: the upload stays at its offset, where
		// the client may resume it.
		if terr := f.Truncate(offset); terr != nil {
			err = errors.Join(err, terr)
		}
		writeError(w, http.StatusInternalServerError, "UNKNOWN", fmt.Sprintf("receiving the upload: %v", err))
		return true
	}

	// The upload state the client had names the old offset: ask the
	// library for the current one.
	rec = newRecorder()
	r.app.ServeHTTP(rec, libraryRequest(req, http.MethodGet, req.URL, false))
	if rec.status != http.StatusNoContent {
		rec.replay(w)
		return true
	}
	if req.Method == http.MethodPatch {
		for _, k := range []string{"Location", "Range", "Docker-Upload-UUID"} {
			w.Header().Set(k, rec.header.Get(k))
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return true
	}
	loc, err := url.Parse(rec.header.Get("Location"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", fmt.Sprintf("upload location: %v", err))
		return true
	}
	q := loc.Query()
	q.Set("digest", req.URL.Query().Get("digest"))
	u := *req.URL
	u.Path, u.RawPath, u.RawQuery = loc.Path, loc.RawPath, q.Encode()
	r.app.ServeHTTP(w, libraryRequest(req, http.MethodPut, &u, false))
	return true
}

// libraryRequest is req as method to u with no body; with ranges it keeps
// the Content-Range and Content-Length headers, for the library to check.
func libraryRequest(req *http.Request, method string, u *url.URL, ranges bool) *http.Request {
	r2 := req.Clone(req.Context())
	r2.Method = method
	r2.URL = u
	r2.RequestURI = ""
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.TransferEncoding = nil
	r2.Header.Del("Content-Type")
	if !ranges {
		r2.Header.Del("Content-Range")
		r2.Header.Del("Content-Length")
	}
	return r2
}

var errNoHashState = errors.New("no saved hash state at the upload's offset")

// openUpload opens the upload's data file at its end and the sha256 state
// of what it holds, as the library saved it.
func openUpload(dir string) (*os.File, int64, hash.Hash, error) {
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_WRONLY, 0)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("opening the upload: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("opening the upload: %w", err)
	}
	offset := fi.Size()
	h := sha256.New()
	if offset > 0 {
		state, err := os.ReadFile(hashStatePath(dir, offset))
		if err != nil {
			f.Close()
			if errors.Is(err, os.ErrNotExist) {
				return nil, 0, nil, errNoHashState
			}
			return nil, 0, nil, fmt.Errorf("reading the upload's hash state: %w", err)
		}
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			f.Close()
			return nil, 0, nil, fmt.Errorf("upload hash state at %d: %w", offset, err)
		}
	}
	return f, offset, h, nil
}

func hashStatePath(dir string, offset int64) string {
	return filepath.Join(dir, "hashstates", "sha256", strconv.FormatInt(offset, 10))
}

// saveHashState writes h's state where the library resumes digests from.
func saveHashState(dir string, offset int64, h hash.Hash) error {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("upload hash state: %w", err)
	}
	p := hashStatePath(dir, offset)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("upload hash state: %w", err)
	}
	if err := os.WriteFile(p, state, 0o640); err != nil {
		return fmt.Errorf("upload hash state: %w", err)
	}
	return nil
}

// appendHashing copies src to f from offset and into h, reading, hashing
// and writing in three goroutines linked by a bounded set of buffers, so
// the slowest of the three sets the pace instead of their sum. It returns
// the number of bytes read; on error, what f holds past offset is
// undefined.
func appendHashing(f *os.File, offset int64, src io.Reader, h hash.Hash) (int64, error) {
	free := make(chan *[]byte, uploadBufs)
	for range uploadBufs {
		free <- uploadBufPool.Get().(*[]byte)
	}
	type chunk struct {
		buf *[]byte
		n   int
	}
	toHash := make(chan chunk, uploadBufs)
	toWrite := make(chan chunk, uploadBufs)
	failed := make(chan struct{}) // closed when the writer fails
	var writeErr error
	writerDone := make(chan struct{})

	go func() {
		for c := range toHash {
			h.Write((*c.buf)[:c.n])
			toWrite <- c
		}
		close(toWrite)
	}()
	go func() {
		defer close(writerDone)
		off := offset
		var behind span // written since the last writeBehind
		var prev span   // handed to the last writeBehind
		behind.off = offset
		for c := range toWrite {
			if writeErr == nil {
				if _, err := f.WriteAt((*c.buf)[:c.n], off); err != nil {
					writeErr = fmt.Errorf("writing the upload: %w", err)
					close(failed)
				}
				off += int64(c.n)
				if behind.n = off - behind.off; behind.n >= writebackEvery {
					writeBehind(f, prev, behind)
					prev, behind = behind, span{off: off}
				}
			}
			free <- c.buf
		}
	}()

	var total int64
	var readErr error
read:
	for {
		var buf *[]byte
		select {
		case buf = <-free:
		case <-failed:
			break read
		}
		n, err := fill(src, *buf)
		total += int64(n)
		if n > 0 {
			toHash <- chunk{buf, n}
		} else {
			free <- buf
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("reading the request body: %w", err)
			break
		}
	}
	close(toHash)
	<-writerDone
	for range uploadBufs {
		uploadBufPool.Put(<-free)
	}
	if writeErr != nil {
		return total, writeErr
	}
	return total, readErr
}

// fill reads into buf until it is full or src ends (io.EOF). Unlike
// io.ReadFull it keeps a body cut short (io.ErrUnexpectedEOF) an error.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := src.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// recorder keeps a response of the library that Slipway may pass on or not.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (rc *recorder) Header() http.Header { return rc.header }

func (rc *recorder) WriteHeader(code int) {
	if rc.status == 0 {
		rc.status = code
	}
}

func (rc *recorder) Write(b []byte) (int, error) {
	rc.WriteHeader(http.StatusOK)
	return rc.body.Write(b)
}

func (rc *recorder) replay(w http.ResponseWriter) {
	for k, v := range rc.header {
		w.Header()[k] = v
	}
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	w.WriteHeader(rc.status)
	_, _ = io.WriteString(w, rc.body.String())
}

// span is a range of a file.
type span struct{ off, n int64 }

// keyedMutex is a mutex per key, forgotten when nobody holds or waits for it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.users++
	k.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		k.mu.Lock()
		if e.users--; e.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
