package tag

import (
	"fmt"
	"slices"
	"strings"
)

// Refs renders templates into image references. A template is either a
// tag template ("{version}-nightly"), which goes after image, or a
// reference whose tag is a template ("registry:5000/team/app:{short_sha}"):
// the tag is what follows the last ":" after the last "/". Placeholders
// are only allowed in the tag. Duplicates are dropped, order kept.
func Refs(image string, templates []string, v Vars) ([]string, error) {
	if len(templates) == 0 {
		templates = []string{"latest"}
	}
	var refs []string
	for _, tmpl := range templates {
		repo, tagTmpl := image, tmpl
		if i := strings.LastIndexByte(tmpl, ':'); i >= 0 && i > strings.LastIndexByte(tmpl, '/') {
			repo, tagTmpl = tmpl[:i], tmpl[i+1:]
		} else if strings.Contains(tmpl, "/") {
			return nil, fmt.Errorf("tag template %q: a reference needs a \":\" before its tag", tmpl)
		}
		if strings.ContainsAny(repo, "{}") {
			return nil, fmt.Errorf("tag template %q: placeholders go in the tag, not in the repository %q", tmpl, repo)
		}
		if repo == "" {
			return nil, fmt.Errorf("tag template %q: no image repository (give --image, or a full reference such as registry/app:%s)", tmpl, tagTmpl)
		}
		t, err := Render(tagTmpl, v)
		if err != nil {
			return nil, err
		}
		if ref := repo + ":" + t; !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}
