package gitops

import "strings"

// A status message and a CLI error are one line (docs/cli.md): the
// problems errors.Join puts on lines of their own are separated by "; "
// there instead.

// oneLine is err's message on one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// lineErrors is errors.Join on one line: errors.Is and errors.As still see
// each error.
type lineErrors []error

// joinLine joins the non-nil errs on one line; nil when there are none.
func joinLine(errs ...error) error {
	var out lineErrors
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (l lineErrors) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = oneLine(err)
	}
	return strings.Join(msgs, "; ")
}

func (l lineErrors) Unwrap() []error { return l }
