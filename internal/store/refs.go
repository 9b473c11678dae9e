package store

import "strings"

// CheckRef refuses a branch or tag name git would not accept as a ref
// (git check-ref-format's rules), and names starting with "-" that git
// would read as an option; field names the input in the error.
func CheckRef(field, ref string) error {
	if problem := refProblem(ref); problem != "" {
		return invalid(field, "%q is not a valid git branch or tag name: %s", ref, problem)
	}
	return nil
}

func refProblem(ref string) string {
	switch {
	case ref == "" || ref == "@":
		return "empty"
	case strings.HasPrefix(ref, "-"):
		return `it starts with "-"`
	case strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.Contains(ref, "//"):
		return "an empty path component"
	case strings.HasSuffix(ref, "."):
		return `it ends with "."`
	case strings.Contains(ref, ".."), strings.Contains(ref, "@{"):
		return `it holds ".." or "@{"`
	case strings.ContainsFunc(ref, func(c rune) bool { return c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c) }):
		return `it holds a space, a control character or one of ~ ^ : ? * [ \`
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return `a component starts with "." or ends with ".lock"`
		}
	}
	return ""
}
