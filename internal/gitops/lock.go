package gitops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked is returned by New when another controller uses the state
// folder: two would deploy the same apps at once.
var ErrLocked = errors.New("another gitops controller uses this state folder")

// lockState takes the state folder's lock, held until the returned file
// is closed (or the process dies, even by SIGKILL).
func lockState(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gitops: state folder: %w", err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("gitops: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("gitops: %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("gitops: lock %s: %w", path, err)
	}
	return f, nil
}
