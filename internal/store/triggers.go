package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// TriggerToken lets a script start a project's pipelines. Only its SHA-256
// is stored: the token itself is returned once, by CreateTriggerToken.
type TriggerToken struct {
	ID          int64  `json:"id"`
	ProjectID   int64  `json:"project_id"`
	Description string `json:"description"`
	// Prefix is the token's first characters, to tell tokens apart.
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// triggerTokenPrefix starts every token, so a leaked one is recognisable
// (secret scanners, logs).
const triggerTokenPrefix = "slpt-"

const triggerCols = "id, project_id, description, token_prefix, created_at, last_used_at"

func scanTrigger(r interface{ Scan(...any) error }) (TriggerToken, error) {
	var tt TriggerToken
	err := r.Scan(&tt.ID, &tt.ProjectID, &tt.Description, &tt.Prefix, timeCol{&tt.CreatedAt}, nullTimeCol{&tt.LastUsedAt})
	return tt, err
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateTriggerToken makes a new random token for a project and returns it
// with its record; the token cannot be read back later.
func (s *Store) CreateTriggerToken(ctx context.Context, projectID int64, description string) (TriggerToken, string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return TriggerToken{}, "", fmt.Errorf("store: trigger token: %w", err)
	}
	token := triggerTokenPrefix + hex.EncodeToString(b)
	tt := TriggerToken{ProjectID: projectID, Description: description, Prefix: token[:len(triggerTokenPrefix)+4], CreatedAt: now()}
	err := s.conn().row(ctx, `INSERT INTO trigger_tokens (project_id, description, token_hash, token_prefix, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		projectID, description, hashToken(token), tt.Prefix, tt.CreatedAt).Scan(&tt.ID)
	if err != nil {
		return TriggerToken{}, "", fmt.Errorf("store: create trigger token: %w", constraint(err, "trigger token"))
	}
	return tt, token, nil
}

// UseTriggerToken returns the record of token and notes its use; ErrNotFound
// when no such token exists (or it was deleted). The lookup is by hash, so
// its timing tells nothing about stored tokens.
func (s *Store) UseTriggerToken(ctx context.Context, token string) (TriggerToken, error) {
	tt, err := scanTrigger(s.conn().row(ctx, "UPDATE trigger_tokens SET last_used_at = ? WHERE token_hash = ? RETURNING "+triggerCols,
		now(), hashToken(token)))
	if err != nil {
		return TriggerToken{}, fmt.Errorf("store: %w", notFound(err, "trigger token", "(hidden)"))
	}
	return tt, nil
}

// ListTriggerTokens returns a project's trigger tokens (without the tokens).
func (s *Store) ListTriggerTokens(ctx context.Context, projectID int64) ([]TriggerToken, error) {
	rows, err := s.conn().query(ctx, "SELECT "+triggerCols+" FROM trigger_tokens WHERE project_id = ? ORDER BY id", projectID)
	if err != nil {
		return nil, fmt.Errorf("store: list trigger tokens: %w", err)
	}
	return collect(rows, scanTrigger)
}

// DeleteTriggerToken revokes a trigger token.
func (s *Store) DeleteTriggerToken(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "trigger_tokens", "trigger token", id)
}
