// Package httpse2e holds the tests of the embedded proxy's HTTPS: Caddy
// runs once per process, and these need a proxy of their own, with HTTPS
// on, next to the package's shared one (embeddedtest).
package httpse2e
