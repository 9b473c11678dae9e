package store

import "context"

// Exec runs a statement as it is: tests set up what an older Slipway left.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.conn().exec(ctx, query, args...)
	return err
}
