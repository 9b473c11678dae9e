package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
)

// InstallationIDLen is the length of an installation id.
const InstallationIDLen = 6

// InstallationID returns the id of this installation: six characters from
// a-z0-9, made the first time it is asked for and the same for every
// server on this database from then on. It keys what the installation
// creates on systems it may share with others (a Docker engine).
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	id, err := s.installationID(ctx)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: installation id: %w", err)
	}
	// Two servers starting at once may both try: the one row's primary key
	// lets one insert win, and both then read the winner's id.
	_, err = s.conn().exec(ctx, "INSERT INTO installation (singleton, id, created_at) VALUES (1, ?, ?)", newInstallationID(), now())
	if err != nil && !isUnique(err) {
		return "", fmt.Errorf("store: installation id: %w", err)
	}
	if id, err = s.installationID(ctx); err != nil {
		return "", fmt.Errorf("store: installation id: %w", err)
	}
	return id, nil
}

func (s *Store) installationID(ctx context.Context) (string, error) {
	var id string
	err := s.conn().row(ctx, "SELECT id FROM installation WHERE singleton = 1").Scan(&id)
	return id, err
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
