package lint

import (
	"strings"
	"testing"
)

// BenchmarkSource lints a typical multi-stage Dockerfile of 30 lines.
func BenchmarkSource(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("FROM golang:1.26 AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n")
	sb.WriteString("RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app\n")
	sb.WriteString("FROM debian:12-slim\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends ca-certificates=20230311 curl=7.88.1 \\\n && rm -rf /var/lib/apt/lists/*\n")
	sb.WriteString("RUN pip install --no-cache-dir flask==3.0.0 | tee /log\nCOPY --from=build /out/app /usr/local/bin/app\nUSER app\nEXPOSE 8080\nCMD [\"app\"]\n")
	src := sb.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Source("Dockerfile", strings.NewReader(src), Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
