package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// GCOptions tune a garbage collection.
type GCOptions struct {
	// DryRun reports what would be deleted without deleting.
	DryRun bool
	// GracePeriod protects blobs and untagged manifests written or linked
	// more recently than this: a client may have uploaded layers and not yet
	// pushed the manifest that references them. Zero means no grace.
	GracePeriod time.Duration
}

// DefaultGracePeriod is the grace period for `slipway registry cleanup`.
const DefaultGracePeriod = time.Hour

// GCReport says what a garbage collection deleted (or would delete).
type GCReport struct {
	DryRun           bool            `json:"dry_run"`
	MarkDuration     time.Duration   `json:"mark_duration"`
	SweepDuration    time.Duration   `json:"sweep_duration"` // the only time pushes waited
	ManifestsRemoved int             `json:"manifests_removed"`
	BlobsDeleted     []digest.Digest `json:"blobs_deleted"`
	BytesFreed       int64           `json:"bytes_freed"`
}

// marker walks manifests and records every digest they reach.
type marker struct {
	store  *Store
	marked map[digest.Digest]bool
}

// mark marks a manifest and everything it references, recursively.
func (m *marker) mark(d digest.Digest) error {
	if m.marked[d] {
		return nil
	}
	m.marked[d] = true
	b, err := m.store.blob(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a dangling link: nothing to keep
	}
	if err != nil {
		return err
	}
	var doc manifestDoc
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	if doc.Config != nil {
		m.marked[doc.Config.Digest] = true
	}
	for _, l := range append(doc.Layers, doc.Blobs...) {
		m.marked[l.Digest] = true
	}
	for _, c := range doc.Manifests {
		if err := m.mark(c.Digest); err != nil {
			return err
		}
	}
	return nil
}

// repoMarks marks what one repository keeps: its tagged manifests, manifests
// linked within the grace period, and referrers (signatures, SBOMs) of
// anything kept. It returns the repository's revision links left unmarked.
func (m *marker) repoMarks(repo string, recent time.Time) (dead []revision, err error) {
	tags, err := m.store.Tags(repo)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, t := range tags {
		if err := m.mark(t.Digest); err != nil {
			return nil, err
		}
	}
	revs, err := m.store.revisions(repo)
	if err != nil {
		return nil, err
	}
	for _, rv := range revs {
		if !rv.linked.Before(recent) {
			if err := m.mark(rv.digest); err != nil {
				return nil, err
			}
		}
	}
	// Referrers point at their subject, not the other way round: repeat
	// until no more referrers of kept manifests turn up.
	for changed := true; changed; {
		changed = false
		for _, rv := range revs {
			if m.marked[rv.digest] {
				continue
			}
			b, err := m.store.blob(rv.digest)
			if err != nil {
				continue
			}
			var doc manifestDoc
			if json.Unmarshal(b, &doc) == nil && doc.Subject != nil && m.marked[doc.Subject.Digest] {
				if err := m.mark(rv.digest); err != nil {
					return nil, err
				}
				changed = true
			}
		}
	}
	for _, rv := range revs {
		if !m.marked[rv.digest] {
			dead = append(dead, rv)
		}
	}
	return dead, nil
}

// CollectGarbage deletes untagged manifests and the blobs no manifest
// references, while the registry keeps serving. The mark phase runs without
// any lock. The sweep holds the write lock, which only pushes and deletes
// take (pulls never wait): under it, manifests and tags written since the
// mark began are marked too, then unreferenced blobs older than the grace
// period are deleted. So a blob is deleted only if, at a moment when no push
// can be in flight, no manifest references it and nobody uploaded, mounted
// or linked it within the grace period.
func (r *Registry) CollectGarbage(ctx context.Context, opts GCOptions) (GCReport, error) {
	rep := GCReport{DryRun: opts.DryRun}
	begin := time.Now()
	recent := begin.Add(-opts.GracePeriod)
	m := &marker{store: r.store, marked: map[digest.Digest]bool{}}
	repos, err := r.store.Repositories()
	if err != nil {
		return rep, err
	}
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if _, err := m.repoMarks(repo, recent); err != nil {
			return rep, fmt.Errorf("gc: marking %s: %w", repo, err)
		}
	}
	rep.MarkDuration = time.Since(begin)

	r.writes.Lock()
	defer r.writes.Unlock()
	sweepStart := time.Now()

	// Re-mark with everything pushed since the mark began counted as recent;
	// manifests already read are not read again.
	if begin.Before(recent) {
		recent = begin
	}
	repos, err = r.store.Repositories()
	if err != nil {
		return rep, err
	}
	var dead []string
	linkedRecently := map[digest.Digest]bool{}
	for _, repo := range repos {
		deadRevs, err := m.repoMarks(repo, recent)
		if err != nil {
			return rep, fmt.Errorf("gc: marking %s: %w", repo, err)
		}
		for _, rv := range deadRevs {
			dead = append(dead, rv.path)
		}
		if err := r.store.recentLayerLinks(repo, recent, linkedRecently); err != nil {
			return rep, fmt.Errorf("gc: layers of %s: %w", repo, err)
		}
	}
	rep.ManifestsRemoved = len(dead)
	if !opts.DryRun {
		for _, p := range dead {
			if err := os.RemoveAll(filepath.Dir(p)); err != nil {
				return rep, fmt.Errorf("gc: removing manifest link: %w", err)
			}
		}
	}
	gone := map[digest.Digest]bool{}
	err = r.store.walkBlobs(func(d digest.Digest, dataPath string, fi fs.FileInfo) error {
		if m.marked[d] || linkedRecently[d] || !fi.ModTime().Before(recent) {
			return nil
		}
		rep.BlobsDeleted = append(rep.BlobsDeleted, d)
		rep.BytesFreed += fi.Size()
		gone[d] = true
		if opts.DryRun {
			return nil
		}
		return os.RemoveAll(filepath.Dir(dataPath))
	})
	if err != nil {
		return rep, fmt.Errorf("gc: sweeping blobs: %w", err)
	}
	if !opts.DryRun {
		for _, repo := range repos {
			if err := r.store.removeLayerLinks(repo, gone); err != nil {
				return rep, fmt.Errorf("gc: layer links of %s: %w", repo, err)
			}
		}
	}
	rep.SweepDuration = time.Since(sweepStart)
	r.log.Info("registry garbage collected", "dry_run", opts.DryRun, "manifests", rep.ManifestsRemoved,
		"blobs", len(rep.BlobsDeleted), "bytes", rep.BytesFreed, "sweep", rep.SweepDuration)
	return rep, nil
}

// walkBlobs calls fn for every blob's data file.
func (s *Store) walkBlobs(fn func(d digest.Digest, dataPath string, fi fs.FileInfo) error) error {
	base := filepath.Join(s.v2(), "blobs")
	return filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() || de.Name() != "data" {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(filepath.ToSlash(rel), "/") // alg/xx/hex/data
		if len(parts) != 4 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		return fn(d, p, fi)
	})
}

// layerLinks calls fn for each blob link of a repository (its _layers).
func (s *Store) layerLinks(repo string, fn func(linkPath string, target digest.Digest, mod time.Time) error) error {
	base := filepath.Join(s.repoDir(repo), "_layers")
	return filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() || de.Name() != "link" {
			return nil
		}
		target, mod, err := readLink(p)
		if err != nil {
			return nil
		}
		return fn(p, target, mod)
	})
}

// recentLayerLinks records blobs a repository linked (upload, mount) since t.
func (s *Store) recentLayerLinks(repo string, t time.Time, into map[digest.Digest]bool) error {
	return s.layerLinks(repo, func(_ string, target digest.Digest, mod time.Time) error {
		if !mod.Before(t) {
			into[target] = true
		}
		return nil
	})
}

func (s *Store) removeLayerLinks(repo string, gone map[digest.Digest]bool) error {
	return s.layerLinks(repo, func(p string, target digest.Digest, _ time.Time) error {
		if gone[target] {
			return os.RemoveAll(filepath.Dir(p))
		}
		return nil
	})
}
