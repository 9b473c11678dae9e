package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// maxCatalog caps one page of the catalog; a client asking for more gets
// this many and a Link to the rest.
const maxCatalog = 1000

// serveCatalog answers GET /v2/_catalog[?n=&last=] as the distribution API
// defines it: repositories in lexical order after last, at most n, and a
// Link header with rel="next" when more follow. A caller sees only the
// repositories it may pull.
func (r *Registry) serveCatalog(w http.ResponseWriter, req *http.Request, p principal) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "only GET")
		return
	}
	q := req.URL.Query()
	n, err := pageSize(q.Get("n"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", err.Error())
		return
	}
	all, err := r.store.Repositories()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	page, more := catalogPage(all, p, q.Get("last"), n)
	if more {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {page[len(page)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?%s>; rel="next"`, next.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string][]string{"repositories": page})
}

// pageSize reads n: absent means the maximum, more than it is capped.
func pageSize(s string) (int, error) {
	if s == "" {
		return maxCatalog, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("n=%q: want a whole number of 0 or more", s)
	}
	return min(n, maxCatalog), nil
}

// catalogPage picks from the sorted repositories those p may pull that
// come after last, at most n, and says whether more would follow.
func catalogPage(sorted []string, p principal, last string, n int) (page []string, more bool) {
	page = []string{}
	start := sort.SearchStrings(sorted, last)
	for _, repo := range sorted[start:] {
		if repo == last || !p.may(repo, AccessPull) {
			continue
		}
		if len(page) == n {
			return page, true
		}
		page = append(page, repo)
	}
	return page, false
}
