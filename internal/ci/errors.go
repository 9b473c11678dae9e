package ci

import (
	"errors"
	"sort"
	"strings"
)

// Error is one problem in a pipeline file, at a position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos == (Pos{}) {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// ErrorList is every problem found in one load, sorted by position.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// add appends e unless the list has it already (a global variable's problem
// is found once per job).
func (l ErrorList) add(e *Error) ErrorList {
	for _, have := range l {
		if *have == *e {
			return l
		}
	}
	return append(l, e)
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return l
}

// Errors returns the individual problems inside err (an *Error, an
// ErrorList or anything wrapping them); other errors come back as one Error
// without a position.
func Errors(err error) []*Error {
	var list ErrorList
	if errors.As(err, &list) {
		return list
	}
	var one *Error
	if errors.As(err, &one) {
		return []*Error{one}
	}
	if err == nil {
		return nil
	}
	return []*Error{{Msg: err.Error()}}
}

// errs collects problems while loading.
type errs struct{ list ErrorList }

func (e *errs) add(pos Pos, msg string) { e.list = append(e.list, &Error{Pos: pos, Msg: msg}) }

func (e *errs) addErr(err error) { e.list = append(e.list, Errors(err)...) }

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e.list.sorted()
}

// didYouMean suggests the closest known word, or "".
func didYouMean(word string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(word, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// DidYouMean suggests the closest of known to word (at most two edits
// away), or "": for other files' unknown keys.
func DidYouMean(word string, known []string) string { return didYouMean(word, known) }

// YAMLError is the yaml.v3 syntax error err of file's data with the file,
// line and column, for other files.
func YAMLError(file string, data []byte, err error) error { return yamlError(file, data, err) }
