package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// InstallationIDLen is the length of an installation id.
const InstallationIDLen = 6

// Installation identifies the installation: every server on this database.
type Installation struct {
	// ID is six characters from a-z0-9. It keys what the installation
	// creates on systems it may share with others (a Docker engine).
	ID string
	// CreatedAt is when a server first asked for it: what was made before
	// (by a Slipway without installation ids) is not keyed by it.
	CreatedAt time.Time
}

// Installation returns the installation, made the first time it is asked
// for and the same for every server on this database from then on.
func (s *Store) Installation(ctx context.Context) (Installation, error) {
	in, err := s.installation(ctx)
	if err == nil {
		return in, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Installation{}, fmt.Errorf("store: installation id: %w", err)
	}
	// Two servers starting at once may both try: the one row's primary key
	// lets one insert win, and both then read the winner's id.
	_, err = s.conn().exec(ctx, "INSERT INTO installation (singleton, id, created_at) VALUES (1, ?, ?)", newInstallationID(), now())
	if err != nil && !isUnique(err) {
		return Installation{}, fmt.Errorf("store: installation id: %w", err)
	}
	if in, err = s.installation(ctx); err != nil {
		return Installation{}, fmt.Errorf("store: installation id: %w", err)
	}
	return in, nil
}

func (s *Store) installation(ctx context.Context) (Installation, error) {
	var in Installation
	err := s.conn().row(ctx, "SELECT id, created_at FROM installation WHERE singleton = 1").Scan(&in.ID, timeCol{&in.CreatedAt})
	return in, err
}

func newInstallationID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, InstallationIDLen)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
