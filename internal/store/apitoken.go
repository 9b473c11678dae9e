package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
)

// MadeAPIToken returns the API token made for servers configured without
// one, and whether this call made it: the first server to ask makes it
// (and shows it once), every later start and server reads the same.
func (s *Store) MadeAPIToken(ctx context.Context) (token string, made bool, err error) {
	if token, err = s.APIToken(ctx); !errors.Is(err, ErrNotFound) {
		return token, false, err
	}
	raw := make([]byte, 24)
	rand.Read(raw) // never fails (crypto/rand)
	mine := base64.RawURLEncoding.EncodeToString(raw)
	// Two servers starting at once: the primary key lets one insert win.
	_, err = s.conn().exec(ctx, "INSERT INTO api_token (singleton, token, created_at) VALUES (1, ?, ?)", mine, now())
	if err != nil && !isUnique(err) {
		return "", false, fmt.Errorf("store: api token: %w", err)
	}
	token, err = s.APIToken(ctx)
	return token, err == nil && token == mine, err
}

// APIToken returns the token MadeAPIToken made; ErrNotFound if none was.
func (s *Store) APIToken(ctx context.Context) (string, error) {
	var token string
	err := s.conn().row(ctx, "SELECT token FROM api_token WHERE singleton = 1").Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: api token: %w", err)
	}
	return token, nil
}
