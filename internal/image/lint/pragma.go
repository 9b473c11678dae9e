package lint

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// pragmas are hadolint's inline ignores: "# hadolint ignore=DL3008,DL3015"
// silences those rules on the line after the comment (where the next
// instruction starts); "# hadolint global ignore=..." for the whole file.
type pragmas struct {
	byLine map[int]map[string]bool
	global map[string]bool
}

var pragmaRe = regexp.MustCompile(`^[ \t]*#[ \t]*hadolint[ \t]+(global[ \t]+)?ignore[ \t]*=[ \t]*([A-Z0-9]+(?:[ \t]*,[ \t]*[A-Z0-9]+)*)[ \t]*(?:#.*)?$`)

func parsePragmas(src []byte) pragmas {
	p := pragmas{byLine: map[int]map[string]bool{}, global: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, len(src)+1)
	for line := 1; sc.Scan(); line++ {
		m := pragmaRe.FindStringSubmatch(strings.TrimRight(sc.Text(), "\r"))
		if m == nil {
			continue
		}
		set := p.global
		if m[1] == "" {
			set = map[string]bool{}
			p.byLine[line+1] = set
		}
		for _, id := range strings.Split(m[2], ",") {
			set[strings.TrimSpace(id)] = true
		}
	}
	return p
}

func (p pragmas) ignores(line int, rule string) bool {
	return p.byLine[line][rule]
}
