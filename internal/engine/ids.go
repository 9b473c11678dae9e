package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// idCounter hands out pipeline and job IDs that stay unique across runs
// (and concurrent slipway processes) sharing a work folder, like GitLab's
// global job IDs.
type idCounter struct{ path string }

// next returns a new ID.
func (c idCounter) next() (int64, error) { return c.reserve(1) }

// reserve returns the first of n new consecutive IDs.
func (c idCounter) reserve(n int) (int64, error) {
	f, err := os.OpenFile(c.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("ids: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, fmt.Errorf("ids: lock %s: %w", c.path, err)
	}
	buf := make([]byte, 32)
	read, _ := f.ReadAt(buf, 0)
	last, _ := strconv.ParseInt(strings.TrimSpace(string(buf[:read])), 10, 64)
	// Write, then cut: a crash in between never lowers the counter.
	text := []byte(strconv.FormatInt(last+int64(n), 10) + "\n")
	if _, err := f.WriteAt(text, 0); err != nil {
		return 0, fmt.Errorf("ids: %w", err)
	}
	if err := f.Truncate(int64(len(text))); err != nil {
		return 0, fmt.Errorf("ids: %w", err)
	}
	return last + 1, nil
}
