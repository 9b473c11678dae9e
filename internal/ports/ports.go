// Package ports hands out host ports to the services of review
// environments. A reservation belongs to an environment slug and a service
// until it is released on teardown. Reservations live in one JSON file under
// the data folder, changed only under an flock, so goroutines and separate
// processes never get the same port; a port is also checked free by binding
// 127.0.0.1:port before it is handed out, so ports taken by others are
// skipped.
package ports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/slug"
)

// The default range, from the seed's "first free port from 8040".
const (
	DefaultLow  = 8040
	DefaultHigh = 8999
)

// Range is an inclusive range of ports.
type Range struct{ Low, High int }

// DefaultRange is 8040-8999.
var DefaultRange = Range{DefaultLow, DefaultHigh}

// ParseRange parses "LOW-HIGH" (config key ports.range); "" is DefaultRange.
func ParseRange(s string) (Range, error) {
	if s == "" {
		return DefaultRange, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil {
		return Range{}, fmt.Errorf("ports.range %q: want LOW-HIGH, e.g. 8040-8999", s)
	}
	r := Range{l, h}
	if err := r.Validate(); err != nil {
		return Range{}, fmt.Errorf("ports.range %q: %w", s, err)
	}
	return r, nil
}

// Validate checks 1 <= Low <= High <= 65535.
func (r Range) Validate() error {
	if r.Low < 1 || r.High > 65535 || r.Low > r.High {
		return fmt.Errorf("range %d-%d: want 1 <= low <= high <= 65535", r.Low, r.High)
	}
	return nil
}

// Reservation is a port held by a service of an environment.
type Reservation struct {
	Port       int       `json:"port"`
	Env        string    `json:"env"`
	Service    string    `json:"service"`
	ReservedAt time.Time `json:"reserved_at"`
}

// file is the reservation file's content.
type file struct {
	Version      int           `json:"version"`
	Reservations []Reservation `json:"reservations"`
}

// Allocator reserves ports from a range. It is safe for concurrent use, and
// several Allocators (in one process or many) on the same folder agree.
type Allocator struct {
	rng  Range
	path string // the reservation file
	lock string // the flock file; apart from path, which is replaced on write

	// mu spares goroutines of one process from polling the flock.
	mu sync.Mutex
	// free reports whether nobody listens on the port; tests replace it.
	free func(port int) bool
}

// FileName is the reservation file's name in the data folder.
const FileName = "ports.json"

// New returns an Allocator keeping its reservations in dir/ports.json.
func New(dir string, r Range) (*Allocator, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("ports.range: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ports: %w", err)
	}
	return &Allocator{
		rng:  r,
		path: filepath.Join(dir, FileName),
		lock: filepath.Join(dir, FileName+".lock"),
		free: bindable,
	}, nil
}

// Reserve returns the port of service in environment env, reserving the
// lowest free port of the range when it has none. Reserving again returns
// the same port. Ports in avoid are never handed out: a reservation on one
// of them moves to another port (a caller that found its port taken after
// all asks again this way).
func (a *Allocator) Reserve(ctx context.Context, env, service string, avoid ...int) (int, error) {
	if err := checkOwner(env, service); err != nil {
		return 0, err
	}
	var port int
	err := a.update(ctx, func(f *file) error {
		f.Reservations = deleteWhere(f.Reservations, func(r Reservation) bool {
			return r.Env == env && r.Service == service && slices.Contains(avoid, r.Port)
		})
		taken := make(map[int]bool, len(f.Reservations)+len(avoid))
		for _, p := range avoid {
			taken[p] = true
		}
		for _, r := range f.Reservations {
			if r.Env == env && r.Service == service {
				port = r.Port
				return nil
			}
			taken[r.Port] = true
		}
		for p := a.rng.Low; p <= a.rng.High; p++ {
			if !taken[p] && a.free(p) {
				port = p
				f.Reservations = append(f.Reservations, Reservation{Port: p, Env: env, Service: service, ReservedAt: time.Now().UTC()})
				return nil
			}
		}
		return fmt.Errorf("no free port in %d-%d (%d reserved)", a.rng.Low, a.rng.High, len(f.Reservations))
	})
	if err != nil {
		return 0, fmt.Errorf("reserve a port for %s/%s: %w", env, service, err)
	}
	return port, nil
}

// Release frees the port of service in environment env; releasing what is
// not reserved is no error.
func (a *Allocator) Release(ctx context.Context, env, service string) error {
	err := a.update(ctx, func(f *file) error {
		f.Reservations = deleteWhere(f.Reservations, func(r Reservation) bool { return r.Env == env && r.Service == service })
		return nil
	})
	if err != nil {
		return fmt.Errorf("release the port of %s/%s: %w", env, service, err)
	}
	return nil
}

// ReleaseEnv frees every port of environment env, for its teardown.
func (a *Allocator) ReleaseEnv(ctx context.Context, env string) error {
	err := a.update(ctx, func(f *file) error {
		f.Reservations = deleteWhere(f.Reservations, func(r Reservation) bool { return r.Env == env })
		return nil
	})
	if err != nil {
		return fmt.Errorf("release the ports of %s: %w", env, err)
	}
	return nil
}

// List returns the reservations, by port.
func (a *Allocator) List(ctx context.Context) ([]Reservation, error) {
	var out []Reservation
	err := a.update(ctx, func(f *file) error {
		out = append(out, f.Reservations...)
		return nil
	})
	return out, err
}

func deleteWhere(rs []Reservation, match func(Reservation) bool) []Reservation {
	out := rs[:0]
	for _, r := range rs {
		if !match(r) {
			out = append(out, r)
		}
	}
	return out
}

func checkOwner(env, service string) error {
	for _, s := range [][2]string{{"environment slug", env}, {"service", service}} {
		if s[1] == "" || slug.Label(s[1]) != s[1] {
			return fmt.Errorf("reserve a port: %s %q is not a slug", s[0], s[1])
		}
	}
	return nil
}

// update runs fn on the reservations under the lock and writes them back
// when they changed.
func (a *Allocator) update(ctx context.Context, fn func(*file) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	unlock, err := flock(ctx, a.lock)
	if err != nil {
		return err
	}
	defer unlock()

	f, before, err := a.read()
	if err != nil {
		return err
	}
	if err := fn(&f); err != nil {
		return err
	}
	sort.Slice(f.Reservations, func(i, j int) bool { return f.Reservations[i].Port < f.Reservations[j].Port })
	after, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	after = append(after, '\n')
	if bytes.Equal(before, after) {
		return nil
	}
	return a.write(after)
}

func (a *Allocator) read() (file, []byte, error) {
	f := file{Version: 1, Reservations: []Reservation{}}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil, nil
	}
	if err != nil {
		return f, nil, fmt.Errorf("ports: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, nil, fmt.Errorf("%s%s: %w", a.path, position(b, err), err)
	}
	if f.Version != 1 {
		return f, nil, fmt.Errorf("%s: version %d, want 1", a.path, f.Version)
	}
	return f, b, nil
}

// position is ":line:col" of a JSON syntax or type error, or "".
func position(b []byte, err error) string {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return ""
	}
	off = min(off, int64(len(b)))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Sprintf(":%d:%d", line, col)
}

// write replaces the file atomically, so a crash leaves the old or the new.
func (a *Allocator) write(b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(a.path), FileName+".*")
	if err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync() // the rename must not land before the data
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("ports: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ports: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), a.path); err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	return nil
}

// flock takes an exclusive lock on path, waiting until ctx is done.
func flock(ctx context.Context, path string) (unlock func(), err error) {
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ports: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { fd.Close() }, nil // closing the file drops the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			fd.Close()
			return nil, fmt.Errorf("ports: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			fd.Close()
			return nil, fmt.Errorf("ports: lock %s: %w", path, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// bindable reports whether 127.0.0.1:port can be bound now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// EphemeralOverlap returns the part of r that lies in the kernel's
// ephemeral port range (net.ipv4.ip_local_port_range): ports there are also
// handed to outgoing connections and to listeners on port 0, so a reserved
// port can be taken before its container binds it. ok is false when there
// is no overlap or the kernel's range cannot be read.
func (r Range) EphemeralOverlap() (overlap Range, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return Range{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return Range{}, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Range{}, false
	}
	overlap = Range{max(r.Low, lo), min(r.High, hi)}
	return overlap, overlap.Low <= overlap.High
}
