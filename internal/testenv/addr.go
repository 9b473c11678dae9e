package testenv

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// program under test that must be told its address before it listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
