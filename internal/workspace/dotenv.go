package workspace

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/slipway-cd/slipway/internal/ci/expand"
)

// EnvVar is one variable of a dotenv report. In JSON (`slipway run
// --report`, the server's results.json) its keys are lower-case like the
// report's others; JSON decoding ignores their case, so files written
// before the tags still read.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ParseDotenv reads an `artifacts:reports:dotenv` file as GitLab does: one
// NAME=VALUE a line, blank lines and # comments ignored, one pair of
// surrounding quotes stripped, no multi-line values. name is used in
// errors, which carry the line and column.
func ParseDotenv(name string, r io.Reader) ([]EnvVar, error) {
	var vars []EnvVar
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
		key, value, ok := strings.Cut(trimmed, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fmt.Errorf("%s:%d:%d: want NAME=VALUE", name, line, col)
		}
		if !expand.IsName(key) {
			return nil, fmt.Errorf("%s:%d:%d: %q is not a variable name (letters, digits and _)", name, line, col, key)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		vars = append(vars, EnvVar{Name: key, Value: value})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return vars, nil
}
