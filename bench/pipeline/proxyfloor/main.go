// Command proxyfloor links Slipway's embedded proxy (Caddy and the modules
// it uses) and nothing else, and exits at once. bench/pipeline/run.sh
// reports its peak RSS: the memory every command of a binary that holds the
// embedded proxy starts from, before Slipway does anything (Go initializes
// every linked package at start, and the kernel maps the executable's pages
// around what those initializers touch).
package main

import _ "github.com/slipway-cd/slipway/internal/proxy/embedded"

func main() {}
