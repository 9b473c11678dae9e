package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Store reads the distribution library's filesystem layout directly: it is
// how tag push times (link file times), referrers and garbage collection see
// the registry without going through HTTP.
//
//	docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
//	docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
//	docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
//	docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
type Store struct {
	root string
}

// TagInfo is one tag of a repository.
type TagInfo struct {
	Tag    string        `json:"tag"`
	Digest digest.Digest `json:"digest"`
	Pushed time.Time     `json:"pushed"`
}

func (s *Store) v2() string { return filepath.Join(s.root, "docker", "registry", "v2") }
func (s *Store) repoDir(r string) string {
	return filepath.Join(s.v2(), "repositories", filepath.FromSlash(r))
}

func (s *Store) blobPath(d digest.Digest) string {
	h := d.Encoded()
	return filepath.Join(s.v2(), "blobs", string(d.Algorithm()), h[:2], h, "data")
}

// Repositories lists every repository name, sorted.
func (s *Store) Repositories() ([]string, error) {
	base := filepath.Join(s.v2(), "repositories")
	var repos []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && d.Name() == "_manifests" {
			rel, _ := filepath.Rel(base, filepath.Dir(p))
			repos = append(repos, filepath.ToSlash(rel))
			return fs.SkipDir
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry store: repositories: %w", err)
	}
	sort.Strings(repos)
	return repos, nil
}

var (
	// The distribution spec's rules for repository names and tags; checked
	// before any name becomes a path.
	repoName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagName  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ErrInvalidName is returned for repository names or tags the spec forbids.
var ErrInvalidName = errors.New("invalid repository name or tag")

// maxRepoLen is the longest repository name the library accepts (it
// answers a longer one with a 500).
const maxRepoLen = 255

func checkRepo(repo string) error {
	if len(repo) > maxRepoLen || !repoName.MatchString(repo) {
		return fmt.Errorf("registry: repository %q: %w", repo, ErrInvalidName)
	}
	return nil
}

// Tags lists a repository's tags with their digests and push times, newest first.
func (s *Store) Tags(repo string) ([]TagInfo, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.repoDir(repo), "_manifests", "tags")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("registry store: repository %q: %w", repo, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("registry store: tags of %q: %w", repo, err)
	}
	var tags []TagInfo
	for _, e := range entries {
		d, mod, err := readLink(filepath.Join(dir, e.Name(), "current", "link"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a tag being deleted
		}
		if err != nil {
			return nil, fmt.Errorf("registry store: tag %s:%s: %w", repo, e.Name(), err)
		}
		tags = append(tags, TagInfo{Tag: e.Name(), Digest: d, Pushed: mod})
	}
	sort.Slice(tags, func(i, j int) bool {
		if !tags[i].Pushed.Equal(tags[j].Pushed) {
			return tags[i].Pushed.After(tags[j].Pushed)
		}
		return tags[i].Tag < tags[j].Tag
	})
	return tags, nil
}

// revision is a manifest linked into a repository.
type revision struct {
	digest digest.Digest // the content the link points at
	linked time.Time
	path   string // of the link file
}

// revisions lists the manifests a repository holds, tagged or not.
func (s *Store) revisions(repo string) ([]revision, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	base := filepath.Join(s.repoDir(repo), "_manifests", "revisions")
	var revs []revision
	algs, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, alg := range algs {
		hexes, err := os.ReadDir(filepath.Join(base, alg.Name()))
		if err != nil {
			return nil, err
		}
		for _, h := range hexes {
			p := filepath.Join(base, alg.Name(), h.Name(), "link")
			d, mod, err := readLink(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			revs = append(revs, revision{digest: d, linked: mod, path: p})
		}
	}
	return revs, nil
}

// blob reads a blob's content (manifests are blobs too).
func (s *Store) blob(d digest.Digest) ([]byte, error) {
	return os.ReadFile(s.blobPath(d))
}

func readLink(p string) (digest.Digest, time.Time, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", time.Time{}, err
	}
	d, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", p, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", time.Time{}, err
	}
	return d, fi.ModTime(), nil
}

// serveTags answers GET /v2/_slipway/tags/<name>: the tags with digests and
// push times, which the standard tag list lacks.
func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, rt route) {
	if req.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "only GET")
		return
	}
	tags, err := r.store.Tags(rt.repo)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	if errors.Is(err, ErrInvalidName) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if tags == nil {
		tags = []TagInfo{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": rt.repo, "tags": tags})
}

// DeleteTag removes a tag and, when no other tag of the repository points at
// the same manifest, the manifest too (as DELETE /v2/<name>/manifests/<digest>
// would); its blobs go at the next garbage collection.
func (r *Registry) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !tagName.MatchString(tag) {
		return fmt.Errorf("registry: tag %q: %w", tag, ErrInvalidName)
	}
	r.writes.RLock()
	defer r.writes.RUnlock()
	tags, err := r.store.Tags(repo)
	if err != nil {
		return err
	}
	var target digest.Digest
	shared := false
	for _, t := range tags {
		if t.Tag == tag {
			target = t.Digest
		}
	}
	if target == "" {
		return fmt.Errorf("registry: tag %s:%s: %w", repo, tag, fs.ErrNotExist)
	}
	for _, t := range tags {
		if t.Tag != tag && t.Digest == target {
			shared = true
		}
	}
	if err := os.RemoveAll(filepath.Join(r.store.repoDir(repo), "_manifests", "tags", tag)); err != nil {
		return fmt.Errorf("registry: deleting tag %s:%s: %w", repo, tag, err)
	}
	if shared {
		return nil
	}
	if err := os.RemoveAll(filepath.Dir(r.store.revisionLink(repo, target))); err != nil {
		return fmt.Errorf("registry: deleting manifest %s@%s: %w", repo, target, err)
	}
	return nil
}
