package registry

import "sync/atomic"

// CountHashCompares counts bcrypt comparisons in n until the returned
// func restores the real comparison, which each counted call still makes.
func CountHashCompares(n *atomic.Int64) (restore func()) {
	real := compareHash
	compareHash = func(hash, password []byte) error {
		n.Add(1)
		return real(hash, password)
	}
	return func() { compareHash = real }
}
