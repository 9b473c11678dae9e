package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
)

// checkNameFree refuses to start beside a live server of the same
// server_name: a starting server takes the rows of its name for its own
// killed past and fails their work, which would fail a live twin's jobs.
//
// A row seen within the grace is either that killed past or a twin. On
// this machine the row's process tells at once; a row of another machine,
// or whose PID is taken again, is watched for up to two heartbeats: a
// twin's heartbeat moves on.
func checkNameFree(ctx context.Context, st *store.Store, self store.Server, interval, grace time.Duration) error {
	twins := func() (map[int64]store.Server, error) {
		all, err := st.ListServers(ctx)
		if err != nil {
			return nil, err
		}
		out := map[int64]store.Server{}
		for _, o := range all {
			// self.StartedAt is on the database's clock, as SeenAt is.
			if o.ID != self.ID && o.Name == self.Name && self.StartedAt.Sub(o.SeenAt) < grace && !processGone(self, o) {
				out[o.ID] = o
			}
		}
		return out, nil
	}
	first, err := twins()
	if err != nil || len(first) == 0 {
		return err
	}
	deadline := time.Now().Add(2 * interval)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval / 4):
		}
		now, err := twins()
		if err != nil {
			return err
		}
		for id, o := range now {
			if o.SeenAt.After(first[id].SeenAt) {
				return fmt.Errorf("server_name %q: another server of that name is running (%s pid %d, started %s); servers sharing a PostgreSQL database each need their own server_name and data folder (SQLite takes one server only)",
					self.Name, o.Host, o.PID, o.StartedAt.Format(time.RFC3339))
			}
		}
	}
	return nil
}

// processGone reports whether o's process is known to be gone: it ran on
// self's machine, and its PID is self's own (taken again) or no process
// has it any more.
func processGone(self, o store.Server) bool {
	if o.Host != self.Host || o.PID <= 0 {
		return false
	}
	if o.PID == self.PID {
		return true
	}
	return errors.Is(syscall.Kill(o.PID, 0), syscall.ESRCH)
}

// machine names where a server's PID means something, for server rows:
// the hostname and the PID namespace. Containers on the host network share
// the host's name, not its PIDs: a twin there would look gone.
func machine() string {
	h, _ := os.Hostname()
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		h += " " + ns // "box pid:[4026531836]"
	}
	return h
}
