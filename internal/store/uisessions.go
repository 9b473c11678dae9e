package store

import (
	"context"
	"fmt"
	"time"
)

// UISession is a browser signed in to the web UI. The store never sees the
// session id the browser holds, only its hash; deciding whether a session
// is still good (expiry, idle time, the API token it was made under) is the
// server's.
type UISession struct {
	// IDHash is the hex SHA-256 of the session id: the row's key.
	IDHash string
	// TokenMAC ties the session to the API token it was made under, without
	// holding the token (the server computes it from the id and the token).
	TokenMAC  string
	CreatedAt time.Time
	// ExpiresAt is the absolute end, however active the browser is.
	ExpiresAt time.Time
	// LastSeenAt is the last time the session authorized a request, for the
	// idle timeout.
	LastSeenAt time.Time
}

const uiSessionCols = "id_hash, token_mac, created_at, expires_at, last_seen_at"

// CreateUISession stores a new session; an id hash already stored is
// ErrConflict (two random 256-bit ids do not collide: it is a bug).
func (s *Store) CreateUISession(ctx context.Context, sess UISession) error {
	if sess.IDHash == "" || sess.TokenMAC == "" {
		return invalid("ui_session.id_hash", "id hash and token MAC must be set")
	}
	_, err := s.conn().exec(ctx, "INSERT INTO ui_sessions ("+uiSessionCols+") VALUES (?, ?, ?, ?, ?)",
		sess.IDHash, sess.TokenMAC, sess.CreatedAt, sess.ExpiresAt, sess.LastSeenAt)
	if err != nil {
		return fmt.Errorf("store: create ui session: %w", constraint(err, "ui session"))
	}
	return nil
}

// UISession looks a session up by the hash of its id; ErrNotFound when
// there is none (signed out, expired and removed, or never made).
func (s *Store) UISession(ctx context.Context, idHash string) (UISession, error) {
	var u UISession
	err := s.conn().row(ctx, "SELECT "+uiSessionCols+" FROM ui_sessions WHERE id_hash = ?", idHash).
		Scan(&u.IDHash, &u.TokenMAC, timeCol{&u.CreatedAt}, timeCol{&u.ExpiresAt}, timeCol{&u.LastSeenAt})
	if err != nil {
		// The key is not named in the error: it is as good as a session id
		// to whoever reads logs and has the database.
		return UISession{}, fmt.Errorf("store: %w", notFound(err, "ui session", "(by id hash)"))
	}
	return u, nil
}

// TouchUISession records that the session was used at t, moving its idle
// timeout on. A session that is gone is not an error: it was signed out
// meanwhile, and the next lookup says so.
func (s *Store) TouchUISession(ctx context.Context, idHash string, t time.Time) error {
	if _, err := s.conn().exec(ctx, "UPDATE ui_sessions SET last_seen_at = ? WHERE id_hash = ?", t, idHash); err != nil {
		return fmt.Errorf("store: touch ui session: %w", err)
	}
	return nil
}

// DeleteUISession removes a session (sign-out, or found expired); removing
// one that is gone already is not an error.
func (s *Store) DeleteUISession(ctx context.Context, idHash string) error {
	if _, err := s.conn().exec(ctx, "DELETE FROM ui_sessions WHERE id_hash = ?", idHash); err != nil {
		return fmt.Errorf("store: delete ui session: %w", err)
	}
	return nil
}

// DeleteExpiredUISessions removes the sessions that expired by now and
// those not used since idleSince, and says how many. It looks only at the
// rows as they are, so any server may run it at any moment.
func (s *Store) DeleteExpiredUISessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	res, err := s.conn().exec(ctx, "DELETE FROM ui_sessions WHERE expires_at <= ? OR last_seen_at <= ?", now, idleSince)
	if err != nil {
		return 0, fmt.Errorf("store: delete expired ui sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired ui sessions: %w", err)
	}
	return n, nil
}
