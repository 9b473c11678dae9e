package registrytest

import "io"

// drain reads rc to the end and closes it, returning the close error, which
// is where go-containerregistry reports a digest mismatch.
func drain(rc io.ReadCloser) (int64, error) {
	n, err := io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return n, err
}
