package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/ci"
)

// MissingDependencyFailure is GitLab's reason for a job whose dependency's
// artifacts are gone (expired or removed) when it starts.
const MissingDependencyFailure = "missing_dependency_failure"

// expirySuffix names the file beside an artifacts folder that holds when
// artifacts:expire_in runs out. It sits beside the folder, not in it, so
// it is never restored into a job.
const expirySuffix = ".expire_at"

// artifactsExpiry is when artifacts saved now with expireIn expire: the
// zero time for none or "never" (the dialect validated the duration).
func artifactsExpiry(expireIn string, now time.Time) time.Time {
	if expireIn == "" || expireIn == "never" {
		return time.Time{}
	}
	d, err := ci.ParseDuration(expireIn)
	if err != nil {
		return time.Time{}
	}
	return now.Add(d).UTC()
}

// markExpiry records beside dir when its artifacts expire.
func markExpiry(dir string, at time.Time) error {
	return os.WriteFile(dir+expirySuffix, []byte(at.Format(time.RFC3339Nano)+"\n"), 0o644)
}

// readExpiry reads when the artifacts in dir expire; ok is false when they
// do not (no marker).
func readExpiry(dir string) (at time.Time, ok bool, err error) {
	b, err := os.ReadFile(dir + expirySuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	at, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %w", dir+expirySuffix, err)
	}
	return at, true, nil
}

// ExpireArtifacts removes the artifacts under workDir whose expire_in has
// run out at now, and returns their folders. A job that later needs them
// fails with missing_dependency_failure, as on GitLab. Artifacts without
// expire_in are kept. Errors on one folder do not stop the others; they
// are returned joined.
func ExpireArtifacts(workDir string, now time.Time) ([]string, error) {
	markers, err := filepath.Glob(filepath.Join(workDir, "pipelines", "*", "artifacts", "*"+expirySuffix))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, m := range markers {
		dir := strings.TrimSuffix(m, expirySuffix)
		at, ok, err := readExpiry(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok || now.Before(at) { // !ok: another process expired it first
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// artifactsGone reports whether the artifacts in dir can no longer be
// restored: removed, or expired at now though not swept yet.
func artifactsGone(dir string, now time.Time) bool {
	if _, err := os.Stat(dir); err != nil {
		return true
	}
	at, ok, err := readExpiry(dir)
	return err == nil && ok && !now.Before(at)
}
